import { describe, expect, it } from 'vitest';
import type { RoomSnapshot } from '@siteflow/contracts';
import { connectClient, push, recordEvents, useStackOnOwnNats } from '@siteflow/testing';

/**
 * docs/consistency.md, rule 6: when the gateway loses NATS it cannot know what it missed, so on reconnect it makes its
 * clients rejoin and they get a fresh snapshot. This file runs its own nats-server (useStackOnOwnNats) to restart it.
 */
describe('NATS reconnect', () => {
  const own = useStackOnOwnNats();

  it('makes joined clients rejoin with a fresh snapshot after NATS comes back', async () => {
    const { stack, restartNats } = own();
    const alice = await stack.devLogin('alice');
    const socket = await connectClient(stack.socketUrl, alice.token);
    try {
      const channel = socket.channel('project:1', {});
      const joins: RoomSnapshot[] = [];
      const errors: unknown[] = [];
      channel.onError((e: unknown) => {
        errors.push(e);
      });
      await new Promise<void>((resolve, reject) => {
        channel
          .join()
          .receive('ok', (r: RoomSnapshot) => {
            joins.push(r);
            resolve();
          })
          .receive('error', reject);
      });
      const before = await push(channel, 'chat:message', { text: 'before the outage' });
      expect(before.status).toBe('ok');

      await restartNats();

      // The gateway errors the channel (phx_error); the stock client rejoins and gets a new snapshot.
      await expect.poll(() => joins.length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(2);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      const fresh = joins.at(-1)!;
      expect(fresh.chat.messages.map((m) => m.text)).toContain('before the outage');

      // And the room is live again: a message round-trips through the outbox and back. Listen
      // before pushing: the broadcast may arrive before the reply.
      const received = recordEvents(channel, 'chat:new_message');
      await expect
        .poll(async () => (await push(channel, 'chat:message', { text: 'after the outage' })).status, { timeout: 15_000, interval: 250 })
        .toBe('ok');
      await expect
        .poll(() => received.events.filter((m) => m.text === 'after the outage').length, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(1);
      expect(received.events.find((m) => m.text === 'after the outage')?.username).toBe('alice');
    } finally {
      socket.disconnect();
    }
  });
});
