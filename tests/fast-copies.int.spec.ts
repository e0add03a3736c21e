import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectClient, openChannel, push, recordEvents, scrapeValue, useStack } from '@siteflow/testing';

/**
 * Fast copies (docs/event-store.md, docs/consistency.md rule 10): a service publishes what it
 * committed at once, and the gateway delivers it without waiting for the outbox relay, whose copy
 * follows and is dropped as already delivered. Shown with the relay really held back: an open
 * transaction with a transaction id keeps every relay from publishing what commits after it
 * (the outbox horizon), the way a long transaction in production would.
 */
describe('fast copies', () => {
  const stack = useStack();

  it("a chat message reaches the room while the relay is held back, and the relay's copy is not delivered again", async () => {
    const s = stack();
    const alice = await connectClient(s.socketUrl, (await s.devLogin('alice')).token);
    const bob = await connectClient(s.socketUrl, (await s.devLogin('bob')).token);
    const holder = new pg.Client({ connectionString: s.databaseUrl });
    await holder.connect();
    try {
      const { channel: a } = await openChannel(alice, 'project:1');
      const { channel: b } = await openChannel(bob, 'project:1');
      const heard = recordEvents(b, 'chat:new_message');
      const texts = () => heard.events.map((m) => (m as { text: string }).text);
      // The room hears the chat stream once through the relay (a fast copy is taken only as the
      // next version of a stream the room has heard).
      expect((await push(a, 'chat:message', { text: 'warm-up' })).status).toBe('ok');
      await expect.poll(texts, { timeout: 15_000 }).toContain('warm-up');

      const jsm = await jetstreamManager(s.nats);
      const relayed = async (text: string) => {
        const last = await jsm.streams.getMessage('EVENTS_CHAT', { last_by_subj: 'project.1.ev.chat.MessagePosted' });
        return last !== null && (last.json<{ data: { text?: string } }>().data.text ?? '') === text;
      };
      await expect.poll(() => relayed('warm-up'), { timeout: 15_000 }).toBe(true);

      // Hold the relays back.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_current_xact_id()');
      const text = `fast ${randomUUID()}`;
      expect((await push(a, 'chat:message', { text })).status).toBe('ok');
      await expect.poll(texts, { timeout: 10_000 }).toContain(text);
      // It came from the fast copy: the relay has not published it.
      expect(await relayed(text)).toBe(false);

      await holder.query('ROLLBACK');
      await expect.poll(() => relayed(text), { timeout: 15_000 }).toBe(true);
      // The gateway heard the relay's copy and dropped it as already delivered.
      const metric = (name: string) => scrapeValue(`${s.gatewayUrl}/metrics`, name);
      await expect.poll(() => metric('siteflow_gateway_projection_duplicates_dropped_total'), { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await metric('siteflow_gateway_fast_copies_delivered_total')).toBeGreaterThan(0);
      expect(texts().filter((t) => t === text)).toHaveLength(1);
      expect(texts()).toEqual(['warm-up', text]);
    } finally {
      await holder.end();
      alice.disconnect();
      bob.disconnect();
    }
  }, 120_000);
});
