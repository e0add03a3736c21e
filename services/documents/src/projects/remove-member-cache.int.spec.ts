import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { adminProjectSubjects, MEMBERSHIP_SUBJECT, type CommandContext } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { connectionSettings } from '@siteflow/eventstore';
import { requestService } from '@siteflow/messaging';
import { projectMembership, startMembershipCache, type MembershipCache, type ProjectMembership } from '@siteflow/servicekit';
import { useStack } from '@siteflow/testing';

const alice = DEMO_USERS.find((u) => u.username === 'alice')!;
const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
const PROJECT = 1;
const TABLE = 'documents.project_members';

const ctxOf = (u: (typeof DEMO_USERS)[number]): CommandContext => ({
  user_id: u.id,
  username: u.username,
  role: u.role,
  avatar_url: u.avatar_url,
  connection_id: `remove-member-cache-${u.username}`,
  project_id: PROJECT,
});

/** Polls until `done` holds (a condition, not a duration). */
const until = async (done: () => Promise<boolean>, what: string, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Statements sent on any Postgres connection of this process while `run` runs (the caches' heartbeats aside). */
async function statementsDuring(run: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(pg.Client.prototype, 'query');
  try {
    await run();
    return spy.mock.calls.filter(([q]) => q !== 'SELECT 1').length;
  } finally {
    spy.mockRestore();
  }
}

/**
 * Documents' memory of its members table: a member removed through the projects API is refused by
 * every instance once the removal committed (two caches on pools of their own in this process stand
 * in for two more documents instances), and by the documents process itself.
 */
describe('documents: a removed member is refused by every instance that remembered them', () => {
  const stack = useStack({ services: ['documents'], gateway: false });
  const instances: Array<{ pool: pg.Pool; cache: MembershipCache; members: ProjectMembership }> = [];
  beforeAll(async () => {
    for (const name of ['a', 'b']) {
      const pool = new pg.Pool({ ...connectionSettings(stack().databaseUrl), max: 2 });
      const cache = startMembershipCache({
        table: TABLE,
        client: () => new pg.Client({ ...pool.options, application_name: `cache-${name}` }),
      });
      instances.push({
        pool,
        cache,
        members: projectMembership(pool, { table: TABLE, waitForUnknownProjectMs: 0 }, undefined, undefined, cache),
      });
    }
    await Promise.all(instances.map((i) => i.cache.ready()));
  });
  afterAll(async () => {
    for (const i of instances) {
      await i.cache.stop();
      await i.pool.end();
    }
  });

  const refused = (m: ProjectMembership) =>
    m.require(ctxOf(bob)).then(
      () => false,
      (err: unknown) => (err as { code?: string }).code === 'unauthorized',
    );
  const documentsSays = async () => {
    const reply = await requestService(stack().nats, MEMBERSHIP_SUBJECT, { ctx: ctxOf(bob), payload: {} }, { timeoutMs: 10_000 });
    return reply.ok ? 'member' : reply.error.code;
  };

  it('once the removal committed', async () => {
    for (const { members } of instances) {
      await expect(members.require(ctxOf(bob))).resolves.toMatchObject({ user_id: bob.id });
      // Remembered: asking again reads nothing.
      expect(await statementsDuring(() => members.require(ctxOf(bob)))).toBe(0);
    }
    expect(await documentsSays()).toBe('member');

    const removed = await requestService(
      stack().nats,
      adminProjectSubjects.removeMember,
      { by: { user_id: alice.id, username: alice.username }, payload: { project_id: PROJECT, user_id: bob.id } },
      { timeoutMs: 30_000 },
    );
    expect(removed.ok, JSON.stringify(removed)).toBe(true);

    // The notification of the deleted row (sent at its commit) makes each instance forget bob.
    for (const { members } of instances) await until(() => refused(members), 'bob to be refused');
    await until(async () => (await documentsSays()) === 'unauthorized', 'documents to refuse bob');
    // The refusal is an answer of the table's, not of memory gone stale: the table has no bob.
    const { rows } = await instances[0]!.pool.query(`SELECT 1 FROM ${TABLE} WHERE project_id = $1 AND user_id = $2`, [PROJECT, bob.id]);
    expect(rows).toEqual([]);
  });
});
