import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Presence, type Channel, type Socket } from 'phoenix';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  CREATE_PROJECT_SUBJECT,
  presenceSubjects,
  subjects,
  type PresenceDiff,
  type PresenceMeta,
  type PresenceSnapshot,
  type RoomSnapshot,
} from '@siteflow/contracts';
import { callService, requestService } from '@siteflow/messaging';
import { freezeProcess, startNatsServer, type LocalServer } from '@siteflow/devstack';
import {
  connectClient,
  createTestDatabase,
  joinChannel,
  push,
  recordEvents,
  startStack,
  type Stack,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';
import { PresenceBucket } from './bucket/presence-bucket.js';
import { gatewayKey, joinedMeta, presenceKey, type GatewayLiveness, type PresenceEntry } from './room/presence-room.js';

/**
 * Presence after outages of what it stands on: the gateways are alive all along, so none of their
 * connections may be evicted (no leave, no ConnectionEvicted, edit locks kept), only shown again
 * within a refresh if at all.
 */

/** A stock phoenix client's view of project:1: who is online, and when each user went offline and came back. */
async function watchRoom(socket: Socket) {
  const channel: Channel = socket.channel('project:1', {});
  const presence = new Presence(channel);
  const diffs: Array<{ at: number; diff: PresenceDiff }> = [];
  channel.on('presence_diff', (diff: PresenceDiff) => {
    diffs.push({ at: Date.now(), diff });
  });
  /** user id → offline spells: [went offline, came back (undefined while offline)]. */
  const spells = new Map<string, Array<{ from: number; to?: number }>>();
  presence.onLeave((id?: string, current?: { metas: unknown[] }) => {
    if (id === undefined || current?.metas.length !== 0) return;
    const list = spells.get(id) ?? [];
    list.push({ from: Date.now() });
    spells.set(id, list);
  });
  presence.onJoin((id?: string, current?: unknown) => {
    if (id === undefined || current) return;
    const last = spells.get(id)?.at(-1);
    if (last && last.to === undefined) last.to = Date.now();
  });
  const snapshot = await joinChannel<RoomSnapshot>(channel);
  const online = () =>
    Object.fromEntries(presence.list((id: string, p: { metas: PresenceMeta[] }) => [id, p.metas.length] as const)) as Record<
      string,
      number
    >;
  const metasOf = (id: string) => presence.list((key: string, p: { metas: PresenceMeta[] }) => (key === id ? p.metas : [])).flat();
  /** How long `id` was shown offline, per spell (up to now for one still open). */
  const offlineMs = (id: string) => (spells.get(id) ?? []).map((s) => (s.to ?? Date.now()) - s.from);
  const leavesOf = (id: string, since = 0) =>
    diffs
      .filter((d) => d.at >= since)
      .flatMap(({ diff }) =>
        (diff.leaves[id]?.metas ?? []).filter((m) => !diff.joins[id]?.metas.some((j) => j.phx_ref_prev === m.phx_ref)),
      );
  return { channel, snapshot, online, metasOf, offlineMs, leavesOf };
}

async function evictionsStored(pool: pg.Pool): Promise<number> {
  const r = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM presence.events WHERE type = 'ConnectionEvicted'`);
  return r.rows[0]!.n;
}

describe('presence down past the TTL while the gateway lives', () => {
  // The gateway refreshes less often than presence sweeps, so a restarted presence that sweeps
  // before hearing from the gateway finds its liveness stale.
  const TTL_MS = 3_000;
  const REFRESH_MS = 2_000;
  const SWEEP_MS = 200;
  let db: TestDatabase;
  let stack: Stack;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({
      natsUrl: testNatsUrl(),
      databaseUrl: db.url,
      services: ['documents', 'presence', 'chat', 'checklist'],
      env: { PRESENCE_TTL_MS: String(TTL_MS), PRESENCE_SWEEP_MS: String(SWEEP_MS), PRESENCE_REFRESH_MS: String(REFRESH_MS) },
      readyTimeoutMs: 60_000,
    });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  // What every process said, when a test fails: this file's timing has failed beside other files' load.
  beforeEach((ctx) => {
    ctx.onTestFailed(() => stack.dumpLogs());
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  it('a restarted presence evicts none of the live connections: no leave, no ConnectionEvicted, the lock stays', async () => {
    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    try {
      const a = await watchRoom(sa);
      const b = await watchRoom(sb);
      const both = { [alice.user.id]: 1, [bob.user.id]: 1 };
      await expect.poll(() => b.online()).toEqual(both);
      expect((await push(a.channel, 'document:start_editing', { document_id: 2 })).status).toBe('ok');
      await expect.poll(() => b.metasOf(String(alice.user.id))[0]).toMatchObject({ editing: true, current_document: 2 });
      const unlocked = recordEvents(b.channel, 'document:unlocked');
      const bucket = await PresenceBucket.open(stack.nats, 15 * 60_000);
      const jsm = await jetstreamManager(stack.nats);
      const liveness = (await bucket.keys('g.*'))[0]!;
      const livenessAge = async () => {
        const m = await jsm.streams.getMessage(PresenceBucket.streamName, { last_by_subj: `$KV.presence.${liveness}` });
        return m ? Date.now() - m.time.getTime() : Number.POSITIVE_INFINITY;
      };

      // Twice, as the restarted presence's first sweep and the gateway's next refresh may come in
      // either order.
      for (let round = 1; round <= 2; round++) {
        const since = Date.now();
        await stack.kill('presence');
        // Down until the gateway's liveness is well past the TTL (its refreshes go unanswered).
        await expect.poll(livenessAge, { timeout: 4 * TTL_MS, interval: 100 }).toBeGreaterThan(TTL_MS + 2 * SWEEP_MS);
        await stack.start('presence');
        // The gateway refreshes again, then a grace and a few sweeps pass.
        await expect.poll(livenessAge, { timeout: 2 * REFRESH_MS + 2_000, interval: 100 }).toBeLessThan(REFRESH_MS);
        await new Promise((r) => setTimeout(r, TTL_MS + 5 * SWEEP_MS));

        expect(a.leavesOf(String(alice.user.id), since), `round ${round}: alice's own client saw her leave`).toEqual([]);
        expect(b.leavesOf(String(alice.user.id), since), `round ${round}`).toEqual([]);
        expect(b.leavesOf(String(bob.user.id), since), `round ${round}`).toEqual([]);
        expect(await evictionsStored(pool), `round ${round}`).toBe(0);
        expect(b.online()).toEqual(both);
      }
      expect(unlocked.events).toEqual([]);
      expect(b.metasOf(String(alice.user.id))[0]).toMatchObject({ editing: true, current_document: 2 });
    } finally {
      sa.disconnect();
      sb.disconnect();
    }
  }, 120_000);

  it('a connection presence lost while its gateway lived is tracked again within a refresh or two', async () => {
    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    try {
      await watchRoom(sa);
      const b = await watchRoom(sb);
      await expect.poll(() => b.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      // Lost without a word (a purge, a restored backup): no eviction, so no resync is asked for;
      // only the count presence holds tells the gateway.
      const bucket = await PresenceBucket.open(stack.nats, 15 * 60_000);
      const aliceKey = async () => (await bucket.keys(`p1.u${alice.user.id}.*`))[0];
      const key = (await aliceKey())!;
      const lost = (await bucket.get(key))!;
      const lostAt = Date.now();
      expect(await bucket.delete(key, lost.revision)).toBe(true);
      await expect.poll(aliceKey, { timeout: 3 * REFRESH_MS + 2_000, interval: 100 }).toBeDefined();
      console.log(`lost connection tracked again after ${Date.now() - lostAt} ms (refresh ${REFRESH_MS} ms)`);
      // A newcomer's presence_state has her again.
      const sa2 = await connectClient(stack.socketUrl, bob.token);
      try {
        const late = await watchRoom(sa2);
        await expect.poll(() => late.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 2 });
      } finally {
        sa2.disconnect();
      }
    } finally {
      sa.disconnect();
      sb.disconnect();
    }
  }, 60_000);

  it('a restarted presence serves a large room whole: from its loaded view, and nothing evicted while its gateway refreshes', async () => {
    // A large room in the bucket, so loading the view takes a while after a restart, held by a
    // gateway that refreshes as the real one does (every REFRESH_MS).
    const ROOM = 3_000;
    // Presence shows a project only to its members: project 99 with alice in it.
    const alice = { user_id: 1, username: 'alice', role: 'admin' as const, avatar_url: '' };
    await callService(
      stack.nats,
      CREATE_PROJECT_SUBJECT,
      {
        ctx: { ...alice, connection_id: 'snapshot-test', project_id: 99 },
        payload: { project_id: 99, name: 'Large room', members: [alice] },
      },
      { timeoutMs: 30_000 },
    );
    const bucket = await PresenceBucket.open<PresenceEntry | GatewayLiveness>(stack.nats, 15 * 60_000);
    const gateway = 'gw-snapshot-test';
    const refresh = new TextEncoder().encode(JSON.stringify({ gateway_id: gateway, connections: ROOM }));
    const refreshing = () => stack.nats.publish(presenceSubjects.refresh, refresh);
    refreshing();
    const refresher = setInterval(refreshing, REFRESH_MS);
    const keys: string[] = [];
    try {
      for (let from = 1; from <= ROOM; from += 250) {
        await Promise.all(
          Array.from({ length: Math.min(250, ROOM - from + 1) }, async (_, i) => {
            const user = from + i;
            const key = presenceKey({ projectId: 99, userId: user, connectionId: `c${user}` });
            keys.push(key);
            const meta = joinedMeta({ user_id: user, username: `u${user}`, avatar_url: '', role: 'customer' }, new Date(), `r${user}`);
            expect(await bucket.create(key, { session_id: `s${user}`, meta, gateway_id: gateway })).not.toBeNull();
          }),
        );
      }
      await stack.kill('presence');
      await stack.start('presence'); // ready: it answers its health subject
      const ctx = { user_id: 1, username: 'alice', role: 'admin', avatar_url: '', connection_id: 'snapshot-test', project_id: 99 };
      const reply = await requestService(stack.nats, subjects.snapshot('presence'), { ctx, payload: {} }, { timeoutMs: 10_000 });
      expect(reply.ok).toBe(true);
      const { part } = (reply as { data: { part: PresenceSnapshot } }).data;
      expect(Object.keys(part.state)).toHaveLength(ROOM);
    } finally {
      clearInterval(refresher);
      for (const key of keys) await bucket.delete(key, await bucket.lastRevision(key));
      await bucket.delete(gatewayKey(gateway), await bucket.lastRevision(gatewayKey(gateway)));
    }
  }, 120_000);
});

describe('a NATS stall past the TTL', () => {
  // The defaults (README): a 12 s stall outlasts the 10 s TTL.
  const TTL_MS = 10_000;
  const REFRESH_MS = 3_000;
  const SWEEP_MS = 2_000;
  const STALL_MS = 12_000;
  let dir: string;
  let nats: LocalServer;
  let natsPid: number;
  let db: TestDatabase;
  let stack: Stack;
  let pool: pg.Pool;

  beforeAll(async () => {
    // A nats-server of this file's own: it is frozen here, and others' tests must not notice.
    dir = await mkdtemp(path.join(tmpdir(), 'sf-presence-stall-'));
    nats = await startNatsServer({ dataDir: path.join(dir, 'nats') });
    natsPid = nats.pid;
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({
      natsUrl: nats.url,
      databaseUrl: db.url,
      env: { PRESENCE_TTL_MS: String(TTL_MS), PRESENCE_SWEEP_MS: String(SWEEP_MS), PRESENCE_REFRESH_MS: String(REFRESH_MS) },
      readyTimeoutMs: 60_000,
    });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    if (natsPid) process.kill(natsPid, 'SIGCONT');
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await nats?.stop();
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps connected users online and their edit locks: shown offline at most one refresh interval after it resumes', async () => {
    const [alice, bob, carol] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob'), stack.devLogin('carol')]);
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    const sockets = [sa, sb];
    try {
      const a = await watchRoom(sa);
      const b = await watchRoom(sb);
      const both = { [alice.user.id]: 1, [bob.user.id]: 1 };
      await expect.poll(() => b.online()).toEqual(both);
      const lock = await push(a.channel, 'document:start_editing', { document_id: 3 });
      expect(lock.status).toBe('ok');
      await expect.poll(() => b.metasOf(String(alice.user.id))[0]).toMatchObject({ editing: true, current_document: 3 });
      const unlocked = recordEvents(b.channel, 'document:unlocked');

      await freezeProcess(natsPid);
      const stalledAt = Date.now();
      try {
        await new Promise((r) => setTimeout(r, STALL_MS)); // the fault itself lasts this long
      } finally {
        process.kill(natsPid, 'SIGCONT');
      }
      const resumedAt = Date.now();
      console.log(`nats-server stalled ${resumedAt - stalledAt} ms`);

      // Past the TTL again, and a few sweeps: whatever presence does after a stall has happened.
      await new Promise((r) => setTimeout(r, TTL_MS + 3 * SWEEP_MS));
      const offlineA = b.offlineMs(String(alice.user.id));
      const offlineB = a.offlineMs(String(bob.user.id));
      console.log(`shown offline after the stall: alice ${JSON.stringify(offlineA)} ms, bob ${JSON.stringify(offlineB)} ms`);
      for (const ms of [...offlineA, ...offlineB]) expect(ms).toBeLessThanOrEqual(REFRESH_MS);
      expect(b.online()).toEqual(both);
      expect(a.online()).toEqual(both);
      expect(await evictionsStored(pool)).toBe(0);

      // Documents still has alice's connection as the holder: a newcomer's snapshot says so, and
      // nobody was told the lock went.
      expect(unlocked.events).toEqual([]);
      const sc = await connectClient(stack.socketUrl, carol.token);
      sockets.push(sc);
      const c = await watchRoom(sc);
      const doc = c.snapshot.documents.find((d) => d.id === 3);
      expect(doc?.lock).toMatchObject({ user_id: alice.user.id });
      expect(b.metasOf(String(alice.user.id))[0]).toMatchObject({ editing: true, current_document: 3 });
      // Only the holding connection may save.
      const save = await push(a.channel, 'document:save', { document_id: 3, content: 'after the stall', base_version: doc!.version });
      expect(save.status).toBe('ok');
    } finally {
      for (const s of sockets) s.disconnect();
    }
  }, 120_000);
});
