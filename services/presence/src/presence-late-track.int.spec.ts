import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { Presence, type Channel, type Socket } from 'phoenix';
import type { ErrorBody, PresenceMeta } from '@siteflow/contracts';
import { freePort } from '@siteflow/devstack';
import { connectClient, joinChannel, useStack } from '@siteflow/testing';
import { PresenceBucket } from './bucket/presence-bucket.js';

/**
 * A track that presence finishes after its caller gave up. The gateway's track request timed out
 * (presence was waiting on Postgres to record the session), so the gateway refused the join and
 * untracked the connection; presence answered that untrack at once (nothing to remove yet), then
 * wrote the key when Postgres let the session through. The gateway is alive and refreshes, so no
 * sweep ever removes such a key: before the fix, the user stayed shown in the room with a
 * connection that never joined, for as long as the gateway ran (the "ghost" of the fault suite's
 * kill -9 checklist run, 101 s until its bound). Now the gateway, seeing presence hold more of its
 * connections than it has for two refreshes, sends its list, and presence removes the others.
 */

const REFRESH_MS = 300;
const PUSH_TIMEOUT_MS = 1_500;

describe('presence: a late track of a refused join', () => {
  let metricsPort = 0;
  const stack = useStack(async () => {
    metricsPort = await freePort();
    return {
      services: ['documents', 'presence', 'chat', 'checklist'],
      env: { PRESENCE_REFRESH_MS: String(REFRESH_MS), PRESENCE_TTL_MS: '3000', PRESENCE_SWEEP_MS: '250' },
      processEnv: { gateway: { PUSH_TIMEOUT_MS: String(PUSH_TIMEOUT_MS) }, presence: { METRICS_PORT: String(metricsPort) } },
    };
  });

  /** How many presence commands of this subject finished, by outcome (from presence's /metrics). */
  const handled = async (command: string, outcome = 'ok'): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('siteflow_command_duration_seconds_count{') &&
          l.includes(`command="${command}"`) &&
          l.includes(`outcome="${outcome}"`),
      );
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };

  const watch = async (socket: Socket) => {
    const channel: Channel = socket.channel('project:1', {});
    const presence = new Presence(channel);
    await joinChannel(channel);
    return () =>
      Object.fromEntries(presence.list((id: string, p: { metas: PresenceMeta[] }) => [id, p.metas.length] as const)) as Record<
        string,
        number
      >;
  };

  const refusedJoin = (socket: Socket, topic: string) =>
    new Promise<ErrorBody>((resolve, reject) => {
      const channel = socket.channel(topic, {});
      channel
        .join(30_000)
        .receive('ok', () => reject(new Error('the join was accepted')))
        .receive('error', (e: ErrorBody) => {
          channel.leave();
          resolve(e);
        })
        .receive('timeout', () => reject(new Error('the join was not answered')));
    });

  it('is removed within a few refreshes: the refused user is not shown, and presence holds no key for them', async () => {
    const [alice, bob] = await Promise.all([stack().devLogin('alice'), stack().devLogin('bob')]);
    const sa = await connectClient(stack().socketUrl, alice.token);
    const sb = await connectClient(stack().socketUrl, bob.token, { reconnectAfterMs: () => 60_000 });
    const pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 1 });
    const blocker = await pool.connect();
    try {
      const online = await watch(sa);
      await expect.poll(online).toEqual({ [alice.user.id]: 1 });

      // Presence records a session in Postgres before it writes the key: hold that insert back.
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE presence.events IN EXCLUSIVE MODE');
      const [tracksBefore, untracksBefore] = [await handled('presence.track'), await handled('presence.untrack')];

      const refused = await refusedJoin(sb, 'project:1');
      expect(refused.code).toBe('unavailable');
      // The gateway untracked the refused join, and presence answered it (nothing to remove yet).
      await expect.poll(() => handled('presence.untrack'), { timeout: 10_000 }).toBeGreaterThan(untracksBefore);

      // Postgres lets the session through: the track its caller gave up on now writes the key.
      await blocker.query('ROLLBACK');
      await expect.poll(() => handled('presence.track'), { timeout: 10_000 }).toBeGreaterThan(tracksBefore);

      // Within a few refreshes, bob is gone again (or was never shown) and stays gone.
      const bucket = await PresenceBucket.open(stack().nats, 15 * 60_000);
      await expect
        .poll(async () => (await bucket.keys(`p1.u${bob.user.id}.*`)).length, { timeout: 20 * REFRESH_MS + 5_000, interval: 100 })
        .toBe(0);
      await expect.poll(online, { timeout: 5_000 }).toEqual({ [alice.user.id]: 1 });
      // Alice's connection, which the gateway has, was kept.
      expect(await bucket.keys(`p1.u${alice.user.id}.*`)).toHaveLength(1);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      await pool.end();
      sa.disconnect();
      sb.disconnect();
    }
  }, 90_000);
});
