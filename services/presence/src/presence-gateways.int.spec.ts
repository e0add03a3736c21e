import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Presence, type Channel, type Socket } from 'phoenix';
import { ConnectionEvictedData, PublishedEvent, type PresenceDiff, type PresenceMeta } from '@siteflow/contracts';
import {
  connectClient,
  createTestDatabase,
  joinChannel,
  startStack,
  type Stack,
  type StackProcess,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';

const TTL_MS = 1_500;
const SWEEP_MS = 250;
const REFRESH_MS = 300;

async function watchRoom(socket: Socket) {
  const channel: Channel = socket.channel('project:1', {});
  const presence = new Presence(channel);
  const diffs: Array<{ at: number; diff: PresenceDiff }> = [];
  channel.on('presence_diff', (diff: PresenceDiff) => {
    diffs.push({ at: Date.now(), diff });
  });
  const offline: Array<{ id: string; at: number }> = [];
  presence.onLeave((id?: string, current?: { metas: unknown[] }) => {
    if (id !== undefined && current?.metas.length === 0) offline.push({ id, at: Date.now() });
  });
  await joinChannel(channel);
  const online = () =>
    Object.fromEntries(presence.list((id: string, p: { metas: PresenceMeta[] }) => [id, p.metas.length] as const)) as Record<
      string,
      number
    >;
  return { diffs, offline, online };
}

/** Users whose metas left in these diffs, one entry per meta. */
const leavesIn = (diffs: Array<{ diff: PresenceDiff }>) =>
  diffs.flatMap(({ diff }) => Object.entries(diff.leaves).flatMap(([id, p]) => p.metas.map(() => id)));

describe('presence across gateways and presence instances', () => {
  let db: TestDatabase;
  let stack: Stack;
  let pool: pg.Pool;
  let extraPresence: StackProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({
      natsUrl: testNatsUrl(),
      databaseUrl: db.url,
      services: ['documents', 'presence', 'chat', 'checklist'],
      env: { PRESENCE_TTL_MS: String(TTL_MS), PRESENCE_SWEEP_MS: String(SWEEP_MS), PRESENCE_REFRESH_MS: String(REFRESH_MS) },
    });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  it('kill -9 of a gateway removes exactly its users within TTL + sweep, with no false leave for the others', async () => {
    extraPresence = await stack.startExtra('presence'); // two presence instances: still one diff per change
    const g2 = await stack.startExtra('gateway');
    const [alice, bob, carol] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob'), stack.devLogin('carol')]);
    const sockets: Socket[] = [];
    try {
      // bob and carol on the first gateway, alice with two tabs on the second.
      const sb = await connectClient(stack.socketUrl, bob.token);
      const sc = await connectClient(stack.socketUrl, carol.token);
      sockets.push(sb, sc);
      const b = await watchRoom(sb);
      const c = await watchRoom(sc);
      for (let i = 0; i < 2; i++) {
        const sa = await connectClient(g2.socketUrl, alice.token, { reconnectAfterMs: () => 60_000 });
        sockets.push(sa);
        await joinChannel(sa, 'project:1');
      }
      const everyone = { [alice.user.id]: 2, [bob.user.id]: 1, [carol.user.id]: 1 };
      await expect.poll(() => b.online()).toEqual(everyone);
      await expect.poll(() => c.online()).toEqual(everyone);
      // Users on different gateways see each other, and several refresh rounds change nothing.
      await new Promise((r) => setTimeout(r, 2 * TTL_MS));
      expect(b.online()).toEqual(everyone);
      expect(leavesIn(b.diffs)).toEqual([]);

      const evicted: ConnectionEvictedData[] = [];
      const sub = stack.nats.subscribe('project.1.ev.presence.ConnectionEvicted', {
        callback: (_err, msg) => {
          const e = PublishedEvent.parse(msg.json());
          evicted.push(ConnectionEvictedData.parse(e.data));
        },
      });
      const diffsBefore = b.diffs.length;
      const killedAt = Date.now();
      await g2.kill('SIGKILL');

      await expect
        .poll(() => b.online(), { timeout: TTL_MS + SWEEP_MS + REFRESH_MS + 3_000 })
        .toEqual({ [bob.user.id]: 1, [carol.user.id]: 1 });
      await expect.poll(() => c.online()).toEqual({ [bob.user.id]: 1, [carol.user.id]: 1 });
      const ghostMs = b.offline.find((o) => o.id === String(alice.user.id))!.at - killedAt;
      console.log(`ghost lifetime after kill -9: ${ghostMs} ms (TTL ${TTL_MS} ms, sweep ${SWEEP_MS} ms, refresh ${REFRESH_MS} ms)`);

      // Exactly alice's two connections left, once each (two presence instances, one diff each).
      expect(leavesIn(b.diffs.slice(diffsBefore)).sort()).toEqual([String(alice.user.id), String(alice.user.id)]);
      await expect.poll(() => evicted.length).toBe(2);
      expect(evicted.every((e) => e.user_id === alice.user.id && e.project_id === 1)).toBe(true);
      sub.unsubscribe();

      // The survivors keep being refreshed: a few more TTLs bring no false leave.
      await new Promise((r) => setTimeout(r, 2 * TTL_MS));
      expect(leavesIn(b.diffs).filter((id) => id !== String(alice.user.id))).toEqual([]);
      expect(leavesIn(c.diffs).filter((id) => id !== String(alice.user.id))).toEqual([]);
      expect(b.online()).toEqual({ [bob.user.id]: 1, [carol.user.id]: 1 });

      const stored = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM presence.events WHERE type = 'ConnectionEvicted'`);
      expect(stored.rows[0]!.n).toBe(2);
    } finally {
      for (const s of sockets) s.disconnect();
    }
  });

  it('a gateway that stalls past the TTL loses its users, and brings them back once it runs again', async () => {
    const g3 = await stack.startExtra('gateway');
    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sockets: Socket[] = [];
    try {
      const sb = await connectClient(stack.socketUrl, bob.token);
      const sa = await connectClient(g3.socketUrl, alice.token, { heartbeatIntervalMs: 60_000 });
      sockets.push(sb, sa);
      const b = await watchRoom(sb);
      const a = await watchRoom(sa);
      const both = { [alice.user.id]: 1, [bob.user.id]: 1 };
      await expect.poll(() => b.online()).toEqual(both);

      process.kill(g3.pid!, 'SIGSTOP');
      try {
        // Evicted like a crashed gateway's user: the sweep cannot tell a stall from a crash.
        await expect.poll(() => b.online(), { timeout: TTL_MS + SWEEP_MS + 3_000 }).toEqual({ [bob.user.id]: 1 });
      } finally {
        process.kill(g3.pid!, 'SIGCONT');
      }
      // Its next refresh learns alice's socket is missing and tracks it again: everyone sees her,
      // alice included (her own client saw her leave too).
      await expect.poll(() => b.online(), { timeout: 5_000 }).toEqual(both);
      await expect.poll(() => a.online(), { timeout: 5_000 }).toEqual(both);
    } finally {
      for (const s of sockets) s.disconnect();
    }
  });

  it('a leave presence could not take (it was down) is retried by the living gateway: no ghost stays', async () => {
    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sockets: Socket[] = [];
    try {
      const sa = await connectClient(stack.socketUrl, alice.token);
      const sb = await connectClient(stack.socketUrl, bob.token, { reconnectAfterMs: () => 60_000 });
      sockets.push(sa, sb);
      const a = await watchRoom(sa);
      await joinChannel(sb, 'project:1');
      await expect.poll(() => a.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });

      // Every presence instance down (the first test started a second one): bob's untrack fails.
      await extraPresence?.kill();
      await stack.kill('presence');
      sb.disconnect();
      await new Promise((r) => setTimeout(r, 3_000)); // past the gateway's request timeout
      expect(a.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 }); // nobody could tell the room

      // Presence is back; the gateway is alive, so nothing evicts bob's key but the retried untrack.
      await stack.start('presence');
      await expect.poll(() => a.online(), { timeout: 10_000 }).toEqual({ [alice.user.id]: 1 });
      const left = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM presence.events WHERE type = 'SessionLeft' AND data->>'user_id' = $1`,
        [String(bob.user.id)],
      );
      expect(left.rows[0]!.n).toBeGreaterThanOrEqual(1);
    } finally {
      for (const s of sockets) s.disconnect();
    }
  });
});
