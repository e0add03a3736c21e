import { afterAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { subjects, type PresenceSnapshot } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { rawSocket, useStack, type RawSocket } from '@siteflow/testing';
import { PresenceBucket } from './bucket/presence-bucket.js';
import { joinedMeta, presenceKey, type PresenceEntry } from './room/presence-room.js';

const MAX_BYTES = 64 * 1024;

/** The presence bucket is bounded; a full one drops its oldest keys, and live connections come back. */
describe('presence bucket limits', () => {
  const stack = useStack({ processEnv: { presence: { PRESENCE_BUCKET_MAX_BYTES: String(MAX_BYTES) } } });
  const sockets: RawSocket[] = [];
  afterAll(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
  });

  it('bounds the bucket; overfilled, it drops the oldest keys without refusing writes, and a live connection is tracked again', async () => {
    const jsm = await jetstreamManager(stack().nats);
    expect((await jsm.streams.info('KV_presence')).config).toMatchObject({ max_bytes: MAX_BYTES, discard: 'old' });

    const alice = await stack().devLogin('alice');
    const s = await rawSocket(stack().socketUrl, alice.token);
    sockets.push(s);
    s.send(['1', '1', 'project:1', 'phx_join', {}]);
    expect(((await s.next((f) => f[1] === '1' && f[3] === 'phx_reply', 30_000))[4] as { status: string }).status).toBe('ok');

    // Far more than the bound, all newer than alice's key: every write is taken, the oldest go.
    const bucket = await PresenceBucket.open<PresenceEntry>(stack().nats, 15 * 60_000);
    const filler = 'x'.repeat(400);
    for (let i = 0; i < 400; i++) {
      const key = presenceKey({ projectId: 424242, userId: 5000 + i, connectionId: `filler-${i}` });
      const meta = joinedMeta({ user_id: 5000 + i, username: `filler${i}`, avatar_url: filler, role: 'customer' }, new Date(), `r${i}`);
      expect(await bucket.create(key, { session_id: `s${i}`, meta, gateway_id: 'gw-filler' }), `write ${i}`).not.toBeNull();
    }
    const { state } = await jsm.streams.info('KV_presence');
    expect(state.bytes).toBeLessThanOrEqual(MAX_BYTES);
    const aliceKeys = async () => (await bucket.keys()).filter((k) => k.startsWith(`p1.u${alice.user.id}.`));
    // The oldest went (the first fillers; alice's own key too, unless her gateway has already
    // tracked her again, which may happen at any moment: that is the point).
    const left = await bucket.keys();
    expect(left).not.toContain(presenceKey({ projectId: 424242, userId: 5000, connectionId: 'filler-0' }));
    expect(left).toContain(presenceKey({ projectId: 424242, userId: 5399, connectionId: 'filler-399' }));

    // Presence restarted reads the bucket as it is now; alice's gateway sees it holds fewer
    // connections than it has and tracks hers again.
    await stack().kill('presence');
    await stack().start('presence');
    const ctx = {
      user_id: alice.user.id,
      username: 'alice',
      role: 'admin' as const,
      avatar_url: '',
      connection_id: 'limits-test',
      project_id: 1,
    };
    await expect
      .poll(
        async () => {
          const reply = await requestService(stack().nats, subjects.snapshot('presence'), { ctx, payload: {} }, { timeoutMs: 10_000 });
          return reply.ok ? Object.keys((reply.data as { part: PresenceSnapshot }).part.state) : [];
        },
        { timeout: 60_000, interval: 500 },
      )
      .toContain(String(alice.user.id));
    expect((await aliceKeys()).length).toBeGreaterThan(0);
  });
});
