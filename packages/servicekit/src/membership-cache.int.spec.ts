import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import pg from 'pg';
import type { CommandContext } from '@siteflow/contracts';
import { connectionSettings } from '@siteflow/eventstore';
import { createTestDatabase, type TestDatabase } from '@siteflow/testing';
import { applyMembershipChange, projectMembersTable, projectMembership, saveProjectMembers, type ProjectMembership } from './membership.js';
import { projectMembersNotify, startMembershipCache, type MembershipCache } from './membership-cache.js';

const TABLE = 'chat.members';
const PROJECT = 7300;
const alice = { user_id: 1, username: 'alice', role: 'admin' as const };
const bob = { user_id: 2, username: 'bob', role: 'customer' as const };
const ctx = (userId: number): CommandContext => ({
  user_id: userId,
  username: `u${userId}`,
  role: 'customer',
  avatar_url: '/a.svg',
  connection_id: `c-${userId}`,
  project_id: PROJECT,
});

/** Polls `check` until it holds (or fails after `ms`): waits on the condition, not on a guess. */
async function until(check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

const refused = (m: ProjectMembership, userId: number) =>
  m.require(ctx(userId)).then(
    () => false,
    (err: unknown) => (err as { code?: string }).code === 'unauthorized',
  );

/** Statements sent on any Postgres connection of this process while `run` runs. */
async function statementsDuring(run: () => Promise<unknown>): Promise<string[]> {
  const spy = vi.spyOn(pg.Client.prototype, 'query');
  try {
    await run();
    // The LISTEN session's heartbeat is no question about a member.
    return spy.mock.calls.map(([q]) => (typeof q === 'string' ? q : (q as { text: string }).text)).filter((q) => q !== 'SELECT 1');
  } finally {
    spy.mockRestore();
  }
}

/**
 * Two instances of one service (two pools, two caches on their own LISTEN sessions) over one
 * members table with its NOTIFY trigger, against a real Postgres.
 */
describe('membership cache', () => {
  let db: TestDatabase;
  let admin: pg.Pool;
  const instances: Array<{ pool: pg.Pool; cache: MembershipCache; members: ProjectMembership }> = [];
  /** While set, instance B's LISTEN session cannot be opened again (Postgres itself stays up). */
  let blockB = false;

  const start = (name: string, blocked: () => boolean, waitForUnknownProjectMs = 0) => {
    const pool = new pg.Pool({ ...connectionSettings(db.url), max: 2, application_name: `pool-${name}` });
    const cache = startMembershipCache({
      table: TABLE,
      client: () =>
        new pg.Client(
          blocked()
            ? { ...connectionSettings('postgres://nobody@127.0.0.1:1/none'), connectionTimeoutMillis: 500 }
            : { ...pool.options, application_name: `members-cache-${name}` },
        ),
      heartbeatMs: 200,
    });
    const members = projectMembership(pool, { table: TABLE, waitForUnknownProjectMs }, undefined, undefined, cache);
    const instance = { pool, cache, members };
    instances.push(instance);
    return instance;
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    admin = new pg.Pool({ connectionString: db.url, max: 2 });
    await admin.query(`CREATE SCHEMA chat; ${projectMembersTable(TABLE)} ${projectMembersNotify(TABLE)}`);
  });
  afterEach(async () => {
    await Promise.all(
      instances.splice(0).map(async (i) => {
        await i.cache.stop();
        await i.pool.end();
      }),
    );
    await admin.query(`TRUNCATE ${TABLE}`);
    blockB = false;
  });
  afterAll(async () => {
    await admin.end();
    await db.drop();
  });

  it('a member removed by the consumer on one instance is refused by the other once it committed', async () => {
    // Written before the instances LISTEN: no notification of these rows is still on its way to them.
    await saveProjectMembers(admin, TABLE, PROJECT, [alice, bob]);
    const a = start('a', () => false);
    const b = start('b', () => false);
    await Promise.all([a.cache.ready(), b.cache.ready()]);
    await expect(b.members.require(ctx(bob.user_id))).resolves.toMatchObject({ role: 'customer' });
    // Remembered now: B asks the database nothing.
    expect(await statementsDuring(() => b.members.require(ctx(bob.user_id)))).toEqual([]);

    // The consumer's path (applyMembershipChange) on instance A, in a transaction held open.
    const tx = await a.pool.connect();
    try {
      await tx.query('BEGIN');
      await applyMembershipChange(tx, TABLE, { project_id: PROJECT, user_id: bob.user_id, username: 'bob', change: 'removed', role: null });
      // Not committed: B answers what the table says, bob is still a member.
      await expect(b.members.require(ctx(bob.user_id))).resolves.toMatchObject({ role: 'customer' });
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    // Committed: the notification reaches B, which then refuses bob (without waiting for any expiry).
    await until(() => refused(b.members, bob.user_id), 2_000);
    // The refusal is remembered too (it reads nothing), and forgotten when bob is added back.
    expect(await statementsDuring(() => refused(b.members, bob.user_id))).toEqual([]);
    await applyMembershipChange(a.pool, TABLE, {
      project_id: PROJECT,
      user_id: bob.user_id,
      username: 'bob',
      change: 'added',
      role: 'admin',
    });
    await until(async () => (await b.members.require(ctx(bob.user_id)).catch(() => null))?.role === 'admin', 2_000);
    // A role changed (an UPDATE) is seen the same way.
    await applyMembershipChange(a.pool, TABLE, {
      project_id: PROJECT,
      user_id: bob.user_id,
      username: 'bob',
      change: 'role_changed',
      role: 'customer',
    });
    await until(async () => (await b.members.require(ctx(bob.user_id)).catch(() => null))?.role === 'customer', 2_000);
  });

  it('a hit asks the database nothing; a miss asks once', async () => {
    await saveProjectMembers(admin, TABLE, PROJECT, [alice]);
    const b = start('b', () => false);
    await b.cache.ready();
    const first = await statementsDuring(() => b.members.require(ctx(alice.user_id)));
    expect(first).toEqual([expect.stringContaining(`FROM ${TABLE} WHERE project_id = $1`)]);
    expect(await statementsDuring(() => b.members.require(ctx(alice.user_id)))).toEqual([]);
    // Someone not asked about yet: one read, then remembered (a refusal too).
    const miss = await statementsDuring(() => refused(b.members, bob.user_id));
    expect(miss).toEqual([expect.stringContaining(`FROM ${TABLE} WHERE project_id = $1`)]);
    expect(await statementsDuring(() => refused(b.members, bob.user_id))).toEqual([]);
    // A miss reads the whole project: on an instance started after these rows were written (no
    // notification of theirs still on its way), asking about bob remembers carol too.
    await saveProjectMembers(admin, TABLE, PROJECT, [bob, { user_id: 3, username: 'carol', role: 'admin' }]);
    const c = start('c', () => false);
    await c.cache.ready();
    expect(await statementsDuring(() => c.members.require(ctx(bob.user_id)))).toHaveLength(1);
    expect(await statementsDuring(() => c.members.require(ctx(3)))).toEqual([]);
    expect(await statementsDuring(() => b.members.require(ctx(alice.user_id)))).toEqual([]);
    expect(await statementsDuring(() => b.members.roleOf(PROJECT, alice.user_id))).toEqual([]);
    // Inside a transaction (a client given) the table is always read: its snapshot, its locks.
    const client = await b.pool.connect();
    try {
      const inTx = await statementsDuring(() => b.members.roleOf(PROJECT, alice.user_id, client));
      expect(inTx).toEqual([expect.stringContaining(`SELECT role FROM ${TABLE}`)]);
    } finally {
      client.release();
    }
  });

  it('is bypassed while its LISTEN session is down, and used again once it is back', async () => {
    await saveProjectMembers(admin, TABLE, PROJECT, [alice, bob]);
    const b = start('b', () => blockB);
    await b.cache.ready();
    await b.members.require(ctx(bob.user_id));
    expect(await statementsDuring(() => b.members.require(ctx(bob.user_id)))).toEqual([]);

    // The session's backend is killed, and cannot come back for now.
    blockB = true;
    const { rows } = await admin.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'members-cache-b'`,
    );
    expect(rows).toEqual([{ killed: true }]);
    await until(() => !b.cache.listening);
    expect(b.cache.size).toBe(0);

    // A removal committed meanwhile (no notification reaches B) is seen: B reads the table, every time.
    await applyMembershipChange(admin, TABLE, {
      project_id: PROJECT,
      user_id: bob.user_id,
      username: 'bob',
      change: 'removed',
      role: null,
    });
    const whileDown = await statementsDuring(async () => {
      expect(await refused(b.members, bob.user_id)).toBe(true);
      await b.members.require(ctx(alice.user_id));
      await b.members.require(ctx(alice.user_id));
    });
    expect(whileDown.filter((q) => q.startsWith(`SELECT role FROM ${TABLE}`))).toHaveLength(3);
    expect(b.cache.size).toBe(0);

    // Back: remembered again after one read.
    blockB = false;
    await b.cache.ready();
    await b.members.require(ctx(alice.user_id));
    expect(await statementsDuring(() => b.members.require(ctx(alice.user_id)))).toEqual([]);
    expect(await refused(b.members, bob.user_id)).toBe(true);
    expect(await statementsDuring(() => refused(b.members, bob.user_id))).toEqual([]);
  });

  it('is not used before its LISTEN session is established', async () => {
    blockB = true;
    const b = start('b', () => blockB);
    await saveProjectMembers(admin, TABLE, PROJECT, [alice]);
    const reads = await statementsDuring(async () => {
      await b.members.require(ctx(alice.user_id));
      await b.members.require(ctx(alice.user_id));
    });
    expect(reads.filter((q) => q.startsWith(`SELECT role FROM ${TABLE}`))).toHaveLength(2);
    expect(b.cache.listening).toBe(false);
    expect(b.cache.size).toBe(0);
  });

  it('a follower waiting for an unknown project sees it (and the caller) once they are recorded', async () => {
    const b = start('b', () => false, 10_000);
    await b.cache.ready();
    // Nobody of the project yet: the refusal and "unknown" are remembered while require waits.
    const waiting = b.members.require(ctx(alice.user_id));
    await until(() => b.cache.size >= 2);
    await saveProjectMembers(admin, TABLE, PROJECT, [alice]); // the consumer's ProjectCreated
    await expect(waiting).resolves.toMatchObject({ role: 'admin' });
  });

  it('forgets everything on TRUNCATE', async () => {
    await saveProjectMembers(admin, TABLE, PROJECT, [alice]);
    const b = start('b', () => false);
    await b.cache.ready();
    await b.members.require(ctx(alice.user_id));
    expect(b.cache.size).toBeGreaterThan(0);
    await admin.query(`TRUNCATE ${TABLE}`);
    await until(() => b.cache.size === 0, 2_000);
    expect(await refused(b.members, alice.user_id)).toBe(true);
  });
});
