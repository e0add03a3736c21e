import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminProjectSubjects, projectClientEvents, PublishedEvent, type ReplyEnvelope } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { requestService } from '@siteflow/messaging';
import { useStack } from '@siteflow/testing';

const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
const alice = DEMO_USERS.find((u) => u.username === 'alice')!;
const PROJECT = 1;
const DOCUMENT = 4;
const STREAM = `document-${DOCUMENT}`;
const bobCtx = {
  user_id: bob.id,
  username: bob.username,
  role: bob.role,
  avatar_url: bob.avatar_url,
  connection_id: 'remove-member-order',
  project_id: PROJECT,
};

/**
 * Removing a member releases their document locks inside the project's transaction. A save of one of
 * those documents racing the removal must still reach NATS in version order (docs/consistency.md,
 * rule 3): otherwise the gateways forward the release and drop the save as "not newer".
 */
describe('documents: removing a member while they save a document they hold', () => {
  const stack = useStack({ services: ['documents'], gateway: false, processEnv: { documents: { DB_POOL_SIZE: '4' } } });
  let db: pg.Pool | undefined;
  afterAll(async () => db?.end());

  /** Polls until `done` holds (a condition, not a duration). */
  const until = async (done: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  /** Whether a backend of the service's database waits on a lock of this kind running this statement. */
  const waiting = async (waitEvent: string, query = '%') => {
    const { rows } = await db!.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1 AND query LIKE $2`,
      [waitEvent, query],
    );
    return rows[0]!.n > 0;
  };

  it('the save and the release are published in version order', async () => {
    db = new pg.Pool({ connectionString: stack().databaseUrl, max: 3 });
    const nats = stack().nats;
    const published: PublishedEvent[] = [];
    const sub = nats.subscribe(`project.${PROJECT}.ev.documents.>`, {
      callback: (err, msg) => {
        if (err) return;
        const e = PublishedEvent.parse(msg.json());
        if (e.stream_id === STREAM) published.push(e);
      },
    });
    await nats.flush();

    const locked = await requestService(
      nats,
      projectClientEvents['document:start_editing'].subject,
      { ctx: bobCtx, payload: { document_id: DOCUMENT } },
      { timeoutMs: 10_000 },
    );
    expect(locked.ok, JSON.stringify(locked)).toBe(true);
    const { rows } = await db.query<{ version: number }>('SELECT version FROM documents.streams WHERE stream_id = $1', [STREAM]);
    const heldAt = rows[0]!.version; // the stream's version
    const { rows: documentRows } = await db.query<{ version: number }>('SELECT version FROM documents.documents WHERE id = $1', [DOCUMENT]);
    const textVersion = documentRows[0]!.version; // the text's, what a save is based on

    // Holds the project's read-model row: the removal stops there, after its first write (the
    // project's stream), with its transaction id taken and its release of bob's lock still to come.
    const blocker = await db.connect();
    let removal: Promise<ReplyEnvelope> | undefined;
    let save: Promise<ReplyEnvelope> | undefined;
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM documents.projects WHERE id = $1 FOR UPDATE', [PROJECT]);
      removal = requestService(
        nats,
        adminProjectSubjects.removeMember,
        { by: { user_id: alice.id, username: alice.username }, payload: { project_id: PROJECT, user_id: bob.id } },
        { timeoutMs: 30_000 },
      );
      await until(() => waiting('transactionid', 'UPDATE documents.projects%'), 'the removal to wait on the project row');

      let saved = false;
      save = requestService(
        nats,
        projectClientEvents['document:save'].subject,
        { ctx: bobCtx, payload: { document_id: DOCUMENT, content: '# saved while being removed', base_version: textVersion } },
        { timeoutMs: 30_000 },
      ).finally(() => (saved = true));
      // The save either commits at once (nothing holds the document for it) or waits for the removal.
      await until(async () => saved || (await waiting('advisory')), 'the save to finish or to wait on a lock');
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    const removed = await removal;
    expect(removed.ok, JSON.stringify(removed)).toBe(true);
    const saveReply = await save;

    const stored = await db.query<{ version: number; type: string }>(
      'SELECT version, type FROM documents.events WHERE stream_id = $1 AND version > $2 ORDER BY transaction_id, global_position',
      [STREAM, heldAt],
    );
    expect(stored.rows.map((r) => r.type)).toContain('LockReleased');
    // Saved before the release, or refused after it (the lock is gone): never lost between them.
    if (saveReply.ok) expect(stored.rows.map((r) => r.type)).toContain('DocumentSaved');
    else expect(saveReply.error.code, JSON.stringify(saveReply)).toBe('not_lock_holder');
    const versions = stored.rows.map((r) => r.version);
    // The relay's order (transaction id, then position) is the stream's version order …
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    // … and so is what it published.
    await until(() => published.filter((e) => e.version > heldAt).length >= versions.length, 'the relay to publish them');
    sub.unsubscribe();
    expect(published.filter((e) => e.version > heldAt).map((e) => e.version)).toEqual(versions);
  });
});
