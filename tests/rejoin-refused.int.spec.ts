import { describe, expect, it } from 'vitest';
import type { RoomSnapshot } from '@siteflow/contracts';
import { connectClient, push, useStackOnOwnNats } from '@siteflow/testing';
import { joinKeepingRejoins } from './support/join-keeping-rejoins.js';

/**
 * What the cluster test's NATS-node kill needs of its clients (tests/cluster.int.spec.ts): when the
 * gateway's NATS connection fails over it makes every client rejoin, and a rejoin may be refused
 * `unavailable` (presence still electing its bucket's leader). A client that keeps rejoining, as
 * the web app does, is joined again once presence answers, and its pushes made meanwhile are
 * answered. Here presence is simply down during the failover, then started again.
 */
describe('a rejoin refused unavailable after a NATS failover', () => {
  const own = useStackOnOwnNats();

  it('keeps rejoining, and a push made while refused is answered once presence is back', async () => {
    const { stack, restartNats } = own();
    const alice = await stack.devLogin('alice');
    // The refused replies, as phoenix logs them (a join's reply hooks are not in its types).
    const refusals: unknown[] = [];
    const socket = await connectClient(stack.socketUrl, alice.token, {
      logger: (kind, message, data) => {
        if (kind === 'receive' && message.startsWith('error project:1 phx_reply')) refusals.push((data as { response?: unknown }).response);
      },
    });
    try {
      const channel = socket.channel('project:1', {});
      await joinKeepingRejoins<RoomSnapshot>(channel, 10_000);
      expect((await push(channel, 'chat:message', { text: 'before' })).status).toBe('ok');

      await stack.kill('presence');
      await restartNats();
      // The gateway reconnects and makes the client rejoin; without presence the rejoin is refused.
      await expect.poll(() => refusals.length, { timeout: 30_000 }).toBeGreaterThan(0);
      expect(refusals[0]).toMatchObject({ code: 'unavailable' });

      const meanwhile = push(channel, 'chat:message', { text: 'while refused', idempotency_key: crypto.randomUUID() }, 60_000);
      await stack.start('presence');
      const reply = await meanwhile;
      expect(reply.status, JSON.stringify(reply.response)).toBe('ok');
      expect(channel.state).toBe('joined');
    } finally {
      socket.disconnect();
    }
  }, 180_000);
});
