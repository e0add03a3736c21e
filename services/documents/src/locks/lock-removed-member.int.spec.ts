import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminProjectSubjects, projectClientEvents, type ReplyEnvelope } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { requestService } from '@siteflow/messaging';
import { useStack } from '@siteflow/testing';

const alice = DEMO_USERS.find((u) => u.username === 'alice')!;
const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
const carol = DEMO_USERS.find((u) => u.username === 'carol')!;
const PROJECT = 1;
/** The advisory lock a removal's COMMIT waits on while the test holds it (the gate trigger below). */
const GATE_KEY = 'lock-removed-member:gate';

const ctxOf = (u: (typeof DEMO_USERS)[number]) => ({
  user_id: u.id,
  username: u.username,
  role: u.role,
  avatar_url: u.avatar_url,
  connection_id: `lock-removed-member-${u.username}`,
  project_id: PROJECT,
});

/**
 * Removing a member releases their locks in the removal's transaction; a lock they take while it runs
 * must not outlive it. Each test holds one side of the race still with a Postgres lock, lets the other
 * run as far as it can, then lets go: whatever the order, once the removal has committed the member
 * holds no lock.
 */
describe('documents: a member removed while taking a document lock holds none after the removal', () => {
  const stack = useStack({ services: ['documents'], gateway: false, processEnv: { documents: { DB_POOL_SIZE: '4' } } });
  let db: pg.Pool | undefined;
  beforeAll(async () => {
    db = new pg.Pool({ connectionString: stack().databaseUrl, max: 3 });
    // A gate for the test only: deferred triggers on the removal's DELETE of the member row and on a
    // lock being written make their transaction's COMMIT wait on an advisory lock the test may hold,
    // after every statement of it ran.
    await db.query(`
      CREATE FUNCTION documents.test_commit_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock_shared(hashtextextended('${GATE_KEY}', 0)); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER test_commit_gate AFTER DELETE ON documents.project_members
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION documents.test_commit_gate();
      CREATE CONSTRAINT TRIGGER test_lock_commit_gate AFTER UPDATE ON documents.documents
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.lock_user_id IS NULL AND NEW.lock_user_id IS NOT NULL)
        EXECUTE FUNCTION documents.test_commit_gate();`);
  });
  afterAll(async () => {
    await db?.query(`DROP TRIGGER IF EXISTS test_commit_gate ON documents.project_members;
      DROP TRIGGER IF EXISTS test_lock_commit_gate ON documents.documents; DROP FUNCTION IF EXISTS documents.test_commit_gate();`);
    await db?.end();
  });

  /** Polls until `done` holds (a condition, not a duration). */
  const until = async (done: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  /** Whether a backend of the service's database waits on a lock of this kind running this statement. */
  const waiting = async (waitEvent: string, query: string, atLeast = 1) => {
    const { rows } = await db!.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1 AND query LIKE $2`,
      [waitEvent, query],
    );
    return rows[0]!.n >= atLeast;
  };
  /**
   * Whether at least `atLeast` transactions wait at their COMMIT on the gate (only the gate triggers
   * take its key). Found by the lock itself: a waiting statement's text, which pg_stat_activity
   * truncates, no longer ends in COMMIT when the append and the projection ride with it.
   */
  const atGate = async (atLeast = 1) => {
    const { rows } = await db!.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
      [GATE_KEY],
    );
    return rows[0]!.n >= atLeast;
  };
  const locksHeldBy = async (userId: number) =>
    (await db!.query<{ id: string }>('SELECT id FROM documents.documents WHERE project_id = $1 AND lock_user_id = $2', [PROJECT, userId]))
      .rows.length;
  const remove = (userId: number) =>
    requestService(
      stack().nats,
      adminProjectSubjects.removeMember,
      { by: { user_id: alice.id, username: alice.username }, payload: { project_id: PROJECT, user_id: userId } },
      { timeoutMs: 30_000 },
    );
  const acquire = (u: (typeof DEMO_USERS)[number], documentId: number) =>
    requestService(
      stack().nats,
      projectClientEvents['document:start_editing'].subject,
      { ctx: ctxOf(u), payload: { document_id: documentId } },
      { timeoutMs: 30_000 },
    );

  it('a lock asked for while the removal is about to commit (after it read their locks) is refused', async () => {
    const gate = await db!.connect();
    let removal: Promise<ReplyEnvelope> | undefined;
    let taking: Promise<ReplyEnvelope> | undefined;
    try {
      await gate.query('BEGIN');
      await gate.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [GATE_KEY]);
      removal = remove(bob.id);
      // Every statement of the removal ran (bob's row deleted, his locks read: none); it waits to commit.
      await until(() => atGate(), 'the removal to wait at its commit');

      let answered = false;
      taking = acquire(bob, 4).finally(() => (answered = true));
      // Bob is still a member for anyone reading committed rows: the lock is either taken (and waits at
      // its commit too, on the same gate) or waits on the removal's change of his membership.
      await until(
        async () => answered || (await waiting('transactionid', '%project_members%')) || (await atGate(2)),
        'the lock to be taken or to wait',
      );
    } finally {
      await gate.query('ROLLBACK');
      gate.release();
    }
    const removed = await removal;
    expect(removed.ok, JSON.stringify(removed)).toBe(true);
    const taken = await taking;
    expect(await locksHeldBy(bob.id)).toBe(0);
    expect(taken.ok, JSON.stringify(taken)).toBe(false);
    if (!taken.ok) expect(taken.error.code).toBe('unauthorized');
  });

  it('a lock whose command passed the membership check before the removal committed is refused', async () => {
    const blocker = await db!.connect();
    let taking: Promise<ReplyEnvelope> | undefined;
    try {
      // Holds the document's stream row: the lock command, past its membership check, waits there.
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM documents.streams WHERE stream_id = 'document-5' FOR UPDATE`);
      taking = acquire(carol, 5);
      // Its lock statement rides with BEGIN (EXECUTE …('document-5', …)).
      await until(() => waiting('transactionid', "%'document-5'%"), 'the lock command to wait on the document');
      const removed = await remove(carol.id);
      expect(removed.ok, JSON.stringify(removed)).toBe(true);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    const taken = await taking;
    expect(await locksHeldBy(carol.id)).toBe(0);
    expect(taken.ok, JSON.stringify(taken)).toBe(false);
    if (!taken.ok) expect(taken.error.code).toBe('unauthorized');
  });

  it('a lock taken just before the removal reached the member is released by the removal', async () => {
    const added = await requestService(
      stack().nats,
      adminProjectSubjects.putMember,
      {
        by: { user_id: alice.id, username: alice.username },
        payload: { project_id: PROJECT, member: { user_id: bob.id, username: bob.username, role: bob.role, avatar_url: bob.avatar_url } },
      },
      { timeoutMs: 30_000 },
    );
    expect(added.ok, JSON.stringify(added)).toBe(true);
    const gate = await db!.connect();
    let taking: Promise<ReplyEnvelope> | undefined;
    let removal: Promise<ReplyEnvelope> | undefined;
    try {
      await gate.query('BEGIN');
      await gate.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [GATE_KEY]);
      taking = acquire(bob, 6);
      // The lock is written (the document's row names bob); its transaction waits to commit.
      await until(() => atGate(), 'the lock to wait at its commit');
      removal = remove(bob.id);
      // The removal either waits for the lock's transaction (on bob's member row) or, not seeing the
      // uncommitted lock, runs to its own commit.
      await until(
        async () => (await waiting('transactionid', 'DELETE FROM documents.project_members%')) || (await atGate(2)),
        'the removal to wait on the member row or at its commit',
      );
    } finally {
      await gate.query('ROLLBACK');
      gate.release();
    }
    const taken = await taking;
    expect(taken.ok, JSON.stringify(taken)).toBe(true);
    const removed = await removal;
    expect(removed.ok, JSON.stringify(removed)).toBe(true);
    expect(await locksHeldBy(bob.id)).toBe(0);
  });
});
