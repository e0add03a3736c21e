import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import type { ChatMessage, RoomSnapshot } from '@siteflow/contracts';
import {
  connectClient,
  createTestDatabase,
  joinChannel,
  nextEvent,
  push,
  startStack,
  type Stack,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';

/** Chat end to end: stock phoenix clients → gateway → NATS → chat service → Postgres → outbox → everyone. */
describe('chat end to end', () => {
  let db: TestDatabase;
  let stack: Stack;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({ natsUrl: testNatsUrl(), databaseUrl: db.url });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  it('two users join project:1, one posts, both receive the same message once', async () => {
    const alice = await stack.devLogin('alice');
    const bob = await stack.devLogin('bob');
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    try {
      const ca = sa.channel('project:1', {});
      const cb = sb.channel('project:1', {});
      const [snapA, snapB] = (await Promise.all([joinChannel(ca), joinChannel(cb)])) as [RoomSnapshot, RoomSnapshot];
      expect(snapA.project?.name).toBe('Demo project');
      expect(snapA.chat.messages).toEqual([]);
      expect(snapB.chat).toEqual({ messages: [], has_more: false, unread_count: 0 });

      const receivedA: ChatMessage[] = [];
      const receivedB: ChatMessage[] = [];
      ca.on('chat:new_message', (m: ChatMessage) => void receivedA.push(m));
      cb.on('chat:new_message', (m: ChatMessage) => void receivedB.push(m));

      const reply = await push(ca, 'chat:message', { text: '  Let us update the timeline ' });
      expect(reply.status).toBe('ok');
      const sent = reply.response as ChatMessage;
      expect(sent).toMatchObject({ text: 'Let us update the timeline', user_id: alice.user.id, username: 'alice' });
      expect(sent.id).toMatch(/^m_/);

      await expect.poll(() => receivedB.length, { timeout: 5000 }).toBe(1);
      await expect.poll(() => receivedA.length, { timeout: 5000 }).toBe(1);
      // Give a duplicate time to show up, then check there was none.
      await new Promise((r) => setTimeout(r, 300));
      expect(receivedA).toEqual([sent]);
      expect(receivedB).toEqual([sent]);

      // Acknowledged means stored: the event and the read model row are in Postgres.
      const events = await pool.query(
        "SELECT type, data->>'message_id' AS id FROM chat.events WHERE stream_id = 'chat-project-1' AND type = 'MessagePosted'",
      );
      expect(events.rows).toEqual([{ type: 'MessagePosted', id: sent.id }]);
      const rows = await pool.query('SELECT text FROM chat.messages WHERE message_id = $1', [sent.id]);
      expect(rows.rows).toEqual([{ text: 'Let us update the timeline' }]);
    } finally {
      sa.disconnect();
      sb.disconnect();
    }
  });

  it('refuses empty and over-long messages with invalid_payload and stores nothing', async () => {
    const carol = await stack.devLogin('carol');
    const s = await connectClient(stack.socketUrl, carol.token);
    try {
      const c = s.channel('project:1', {});
      await joinChannel(c);
      const before = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM chat.events');
      for (const text of ['', '   ', 'x'.repeat(4001)]) {
        const r = await push(c, 'chat:message', { text });
        expect(r.status).toBe('error');
        expect(r.response).toMatchObject({ code: 'invalid_payload' });
      }
      const wrongType = await push(c, 'chat:message', { text: 42 });
      expect(wrongType.response).toMatchObject({ code: 'invalid_payload' });
      const after = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM chat.events');
      expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
      const ok = await push(c, 'chat:message', { text: 'x'.repeat(4000) });
      expect(ok.status).toBe('ok');
    } finally {
      s.disconnect();
    }
  });

  it('the join snapshot holds the latest 50 messages, oldest first, and history pages the rest', async () => {
    const alice = await stack.devLogin('alice');
    const s = await connectClient(stack.socketUrl, alice.token);
    try {
      const c = s.channel('project:1', {});
      await joinChannel(c);
      for (let i = 0; i < 55; i++) {
        const r = await push(c, 'chat:message', { text: `message ${i}` });
        expect(r.status).toBe('ok');
      }
      c.leave();
      const c2 = s.channel('project:1', {});
      const snap = await joinChannel<RoomSnapshot>(c2);
      expect(snap.chat.messages).toHaveLength(50);
      expect(snap.chat.has_more).toBe(true);
      expect(snap.chat.messages.at(-1)?.text).toBe('message 54');
      expect(snap.chat.messages[0]?.text).toBe('message 5');

      // Page backwards through everything: every message exactly once, in order.
      const all: ChatMessage[] = [...snap.chat.messages];
      let before = snap.chat.messages[0]!.id;
      for (;;) {
        const r = await push(c2, 'chat:history', { before_id: before, limit: 20 });
        expect(r.status).toBe('ok');
        const page = r.response as { messages: ChatMessage[]; has_more: boolean };
        all.unshift(...page.messages);
        if (!page.has_more) break;
        before = page.messages[0]!.id;
      }
      expect((await push(c2, 'chat:history', { limit: 101 })).response).toMatchObject({ code: 'invalid_payload' });
      const unknown = await push(c2, 'chat:history', { before_id: 'm_00000000-0000-0000-0000-000000000000' });
      expect(unknown.response).toMatchObject({ code: 'not_found' });

      // Every message exactly once, in the order the room's stream holds them.
      const stored = await pool.query<{ id: string }>(
        "SELECT data->>'message_id' AS id FROM chat.events WHERE stream_id = 'chat-project-1' AND type = 'MessagePosted' ORDER BY version",
      );
      expect(all.map((m) => m.id)).toEqual(stored.rows.map((r) => r.id));
      const texts = all.map((m) => m.text);
      expect(texts.indexOf('message 0')).toBeLessThan(texts.indexOf('message 54'));
    } finally {
      s.disconnect();
    }
  });

  it('survives a chat service restart with history intact; while it is down a push gets unavailable', async () => {
    const bob = await stack.devLogin('bob');
    const s = await connectClient(stack.socketUrl, bob.token);
    try {
      const c = s.channel('project:1', {});
      await joinChannel(c);
      const posted = await push(c, 'chat:message', { text: 'before the restart' });
      expect(posted.status).toBe('ok');
      const id = (posted.response as ChatMessage).id;

      await stack.kill('chat', 'SIGKILL');
      const started = Date.now();
      const down = await push(c, 'chat:message', { text: 'nobody listens' }, 20_000);
      expect(down.status).toBe('error');
      expect(down.response).toMatchObject({ code: 'unavailable' });
      // No responders: answered at once, not after PUSH_TIMEOUT_MS (10 s in tests).
      expect(Date.now() - started).toBeLessThan(5_000);

      await stack.start('chat');
      const c2 = s.channel('project:1', {});
      c.leave();
      const snap = await joinChannel<RoomSnapshot>(c2);
      expect(snap.chat.messages.map((m) => m.id)).toContain(id);
      expect(snap.chat.messages.map((m) => m.text)).not.toContain('nobody listens');

      // Listening before the push: the broadcast may overtake the reply.
      const seen = nextEvent(c2, 'chat:new_message', (m: ChatMessage) => m.text === 'after the restart', 10_000);
      const again = await push(c2, 'chat:message', { text: 'after the restart' });
      expect(again.status).toBe('ok');
      expect(await seen).toMatchObject({ text: 'after the restart' });
    } finally {
      s.disconnect();
    }
  });
});
