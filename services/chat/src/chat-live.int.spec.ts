import { describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Socket } from 'phoenix';
import { CHAT_RATE_LIMIT, type ChatMessage, type RoomSnapshot } from '@siteflow/contracts';
import { assertOk, connectClient, joinChannel, nextEvent, push, recordEvents, useStack } from '@siteflow/testing';

/** Typing, read state and the rate limit, across chat instances, with stock phoenix clients. */
describe('chat: typing, unread counts, rate limit', () => {
  const stack = useStack();
  const sockets: Socket[] = [];
  const join = async (name: 'alice' | 'bob' | 'carol', socketUrl = stack().socketUrl) => {
    const login = await stack().devLogin(name);
    const socket = await connectClient(socketUrl, login.token);
    sockets.push(socket);
    const channel = socket.channel('project:1', {});
    const snapshot = await joinChannel<RoomSnapshot>(channel);
    return { user: login.user, socket, channel, snapshot };
  };
  const disconnectAll = () => sockets.splice(0).forEach((s) => s.disconnect());
  const query = async <R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []) => {
    const pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 1 });
    try {
      return (await pool.query<R>(sql, params)).rows;
    } finally {
      await pool.end();
    }
  };

  it('typing reaches the others (not the typist) and stop_typing ends it', async () => {
    const a = await join('alice');
    const b = await join('bob');
    try {
      const own = recordEvents(a.channel, 'chat:typing');
      const started = nextEvent(b.channel, 'chat:typing');
      expect(await push(a.channel, 'chat:typing', {})).toEqual({ status: 'ok', response: { typing: true } });
      expect(await started).toEqual({ user_id: a.user.id, username: 'alice', typing: true });
      const stopped = nextEvent(b.channel, 'chat:typing');
      expect(await push(a.channel, 'chat:stop_typing', {})).toEqual({ status: 'ok', response: { typing: false } });
      expect(await stopped).toEqual({ user_id: a.user.id, username: 'alice', typing: false });
      expect((await push(a.channel, 'chat:typing', { extra: 1 })).response).toMatchObject({ code: 'invalid_payload' });
      expect(own.events).toEqual([]);

      // A typist whose socket closes stops typing at once (the 5 s expiry is only the fallback).
      const typist = await join('carol');
      const typing = nextEvent(b.channel, 'chat:typing', (t) => t.username === 'carol' && t.typing);
      await push(typist.channel, 'chat:typing', {});
      await typing;
      const ended = nextEvent(b.channel, 'chat:typing', (t) => t.username === 'carol' && !t.typing, 3_000);
      typist.socket.disconnect();
      expect(await ended).toEqual({ user_id: typist.user.id, username: 'carol', typing: false });
      // Never stored: typing is not an event of the chat store.
      expect(await query("SELECT count(*)::int AS n FROM chat.events WHERE type ILIKE '%typ%'")).toEqual([{ n: 0 }]);
    } finally {
      disconnectAll();
    }
  });

  it('a typing state not renewed ends by itself after 5 s, even when the instance that started it crashed', async () => {
    await stack().startExtra('chat');
    const a = await join('alice');
    const b = await join('bob');
    try {
      const seen = recordEvents(b.channel, 'chat:typing');
      await push(a.channel, 'chat:typing', {});
      // Renewed after 1 s: the state must outlive the first expiry.
      await new Promise((r) => setTimeout(r, 1_000));
      const renewedAt = Date.now();
      expect((await push(a.channel, 'chat:typing', {})).status).toBe('ok');
      // The primary may have served either request; kill it: the other instance must still end the state.
      await stack().kill('chat', 'SIGKILL');
      await expect.poll(() => seen.events.at(-1)?.typing, { timeout: 10_000, interval: 50 }).toBe(false);
      const endedAfter = Date.now() - renewedAt;
      expect(endedAfter).toBeGreaterThanOrEqual(4_900); // not before 5 s without renewal (database clock)
      expect(seen.events).toEqual([
        { user_id: a.user.id, username: 'alice', typing: true },
        { user_id: a.user.id, username: 'alice', typing: true },
        { user_id: a.user.id, username: 'alice', typing: false },
      ]);
      expect(await query('SELECT count(*)::int AS n FROM chat.typing')).toEqual([{ n: 0 }]);
    } finally {
      disconnectAll();
      await stack().start('chat');
    }
  });

  it('unread counts move live on user:<id> when another user posts and reset on mark_read', async () => {
    const a = await join('alice');
    const c = await join('carol');
    try {
      const own = c.socket.channel(`user:${c.user.id}`, {});
      await joinChannel(own);
      const counts = recordEvents(own, 'chat:unread');
      // The chat service learns the members from the documents service's ProjectCreated.
      await expect
        .poll(
          async () =>
            (await query<{ user_id: number }>('SELECT user_id::int FROM chat.members WHERE project_id = 1 ORDER BY user_id')).map(
              (r) => r.user_id,
            ),
          { timeout: 10_000 },
        )
        .toEqual([1, 2, 3]);
      const start = c.snapshot.chat.unread_count;

      const posted: ChatMessage[] = [];
      for (const text of ['first', 'second']) {
        const r = await push(a.channel, 'chat:message', { text });
        assertOk(r);
        posted.push(r.response);
      }
      await expect
        .poll(() => counts.events, { timeout: 5_000 })
        .toEqual([
          { project_id: 1, count: start + 1 },
          { project_id: 1, count: start + 2 },
        ]);
      // Her own message is not unread for her.
      expect((await push(c.channel, 'chat:message', { text: 'mine' })).status).toBe('ok');

      const marked = await push(c.channel, 'chat:mark_read', { last_read_id: posted[1]!.id });
      expect(marked).toEqual({ status: 'ok', response: { unread_count: 0 } });
      await expect.poll(() => counts.events.at(-1), { timeout: 5_000 }).toEqual({ project_id: 1, count: 0 });
      expect(counts.events).toHaveLength(3);
      // Marking an older message later does not move the mark back.
      expect(await push(c.channel, 'chat:mark_read', { last_read_id: posted[0]!.id })).toEqual({
        status: 'ok',
        response: { unread_count: 0 },
      });

      const unknown = await push(c.channel, 'chat:mark_read', { last_read_id: 'm_00000000-0000-0000-0000-000000000000' });
      expect(unknown.response).toMatchObject({ code: 'not_found' });
      expect((await push(c.channel, 'chat:mark_read', { last_read_id: 'nope' })).response).toMatchObject({ code: 'invalid_payload' });

      const again = await join('carol');
      expect(again.snapshot.chat.unread_count).toBe(0);
      const alicesView = await join('alice');
      expect(alicesView.snapshot.chat.unread_count).toBeGreaterThanOrEqual(1); // carol's 'mine'
    } finally {
      disconnectAll();
    }
  });

  it('the 61st message within a minute is refused across two sockets, two gateways and two chat instances; nothing is stored for it', async () => {
    const gateway2 = await stack().startExtra('gateway');
    const b1 = await join('bob');
    const b2 = await join('bob', gateway2.socketUrl);
    try {
      const before = await query<{ n: number }>(
        "SELECT count(*)::int AS n FROM chat.messages WHERE user_id = 2 AND posted_at > now() - interval '1 minute'",
      );
      const room = CHAT_RATE_LIMIT - before[0]!.n;
      const sends = Array.from({ length: room }, (_, i) =>
        push((i % 2 === 0 ? b1 : b2).channel, 'chat:message', { text: `burst ${i}` }, 15_000),
      );
      const replies = await Promise.all(sends);
      expect(replies.map((r) => r.status)).toEqual(Array(room).fill('ok'));

      const refused = await push(b2.channel, 'chat:message', { text: 'one too many' });
      expect(refused.status).toBe('error');
      expect(refused.response).toMatchObject({ code: 'rate_limited', details: { retry_after_ms: expect.any(Number) as number } });
      const retry = (refused.response as { details: { retry_after_ms: number } }).details.retry_after_ms;
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(60_000);
      expect(await query("SELECT count(*)::int AS n FROM chat.messages WHERE text = 'one too many'")).toEqual([{ n: 0 }]);
      expect(await query("SELECT count(*)::int AS n FROM chat.events WHERE data->>'text' = 'one too many'")).toEqual([{ n: 0 }]);
      // Someone else is not limited by bob's burst.
      const a = await join('alice');
      expect((await push(a.channel, 'chat:message', { text: 'still fine' })).status).toBe('ok');
    } finally {
      disconnectAll();
    }
  });
});
