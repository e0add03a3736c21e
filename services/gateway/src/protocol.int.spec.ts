import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import {
  createTestDatabase,
  rawSocket,
  scrapeValue,
  startStack,
  type RawSocket,
  type Stack,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';

/** A reply carries status and response; a broadcast (chat:new_message) carries the message itself. */
type Payload = { status: string; response: { id?: unknown }; id?: unknown };
type Frame = [string | null, string | null, string, string, Payload];

/** Conformance with docs/protocol.md, against the running gateway and services. */
describe('Phoenix Channels v2 protocol', () => {
  let db: TestDatabase;
  let stack: Stack;
  let token: string;
  const sockets: RawSocket[] = [];

  const open = async (t = token) => {
    const s = await rawSocket(stack.socketUrl, t);
    sockets.push(s);
    return s;
  };
  const reply = (s: RawSocket, ref: string, timeoutMs = 5000) =>
    s.next((f) => f[1] === ref && f[3] === 'phx_reply', timeoutMs) as Promise<Frame>;
  const joinProject = async (s: RawSocket, joinRef: string, topic = 'project:1') => {
    s.send([joinRef, joinRef, topic, 'phx_join', {}]);
    return reply(s, joinRef);
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({ natsUrl: testNatsUrl(), databaseUrl: db.url, env: { IDLE_TIMEOUT_MS: '2000' } });
    token = (await stack.devLogin('alice')).token;
  });
  afterAll(async () => {
    for (const s of sockets) void s.close();
    // Unset when beforeAll failed.
    await (stack as Stack | undefined)?.stop();
    await (db as TestDatabase | undefined)?.drop();
  });

  it('refuses a socket without a token or with a bad one', async () => {
    await expect(rawSocket(stack.socketUrl, '')).rejects.toThrow(/403/);
    await expect(rawSocket(stack.socketUrl, 'not-a-jwt')).rejects.toThrow(/403/);
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await expect(rawSocket(stack.socketUrl, forged)).rejects.toThrow(/403/);
  });

  it('answers a heartbeat', async () => {
    const s = await open();
    s.send([null, '7', 'phoenix', 'heartbeat', {}]);
    expect(await reply(s, '7')).toEqual([null, '7', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  });

  it('joins project:1 with the room snapshot, then sends presence_state', async () => {
    const s = await open();
    const r = await joinProject(s, '1');
    expect(r[0]).toBe('1');
    expect(r[4].status).toBe('ok');
    expect(r[4].response).toMatchObject({
      project: { id: 1, name: 'Demo project' },
      chat: { messages: [], has_more: false, unread_count: 0 },
      checklist: { progress: { progress: 0 } },
    });
    const presence = (await s.next((f) => f[3] === 'presence_state')) as Frame;
    expect(presence[0]).toBe('1');
    expect(presence[2]).toBe('project:1');
    expect(typeof presence[4]).toBe('object');
  });

  it('answers unknown topics, and pushes to topics not joined, with "unmatched topic"', async () => {
    const s = await open();
    s.send(['3', '3', 'room:lobby', 'phx_join', {}]);
    expect((await reply(s, '3'))[4]).toEqual({ status: 'error', response: { reason: 'unmatched topic', code: 'unmatched_topic' } });
    s.send(['4', '5', 'project:1', 'chat:message', { text: 'hi' }]);
    expect((await reply(s, '5'))[4]).toMatchObject({ status: 'error', response: { reason: 'unmatched topic' } });
  });

  it("refuses a project that does not exist (as it refuses a foreign one) and another user's topic", async () => {
    const s = await open();
    expect((await joinProject(s, '1', 'project:999'))[4]).toEqual({
      status: 'error',
      response: { code: 'unauthorized', reason: 'you are not a member of this project' },
    });
    expect((await joinProject(s, '2', 'user:2'))[4]).toMatchObject({ status: 'error', response: { code: 'unauthorized' } });
    expect((await joinProject(s, '3', 'user:1'))[4]).toEqual({ status: 'ok', response: {} });
  });

  it('rejoining a joined topic closes the old join with phx_close carrying the old join_ref', async () => {
    const s = await open();
    await joinProject(s, '1');
    s.send(['2', '2', 'project:1', 'phx_join', {}]);
    const close = (await s.next((f) => f[3] === 'phx_close')) as Frame;
    expect(close[0]).toBe('1');
    expect(close[2]).toBe('project:1');
    expect((await reply(s, '2'))[4].status).toBe('ok');
  });

  it('drops a push that carries a stale join_ref, and keeps serving the socket', async () => {
    const s = await open();
    await joinProject(s, '1');
    s.send(['2', '2', 'project:1', 'phx_join', {}]);
    await reply(s, '2');
    s.send(['1', '10', 'project:1', 'chat:message', { text: 'from the old join' }]);
    s.send([null, '11', 'phoenix', 'heartbeat', {}]);
    await reply(s, '11');
    await expect(reply(s, '10', 500)).rejects.toThrow();
  });

  it('phx_leave replies ok and then sends phx_close', async () => {
    const s = await open();
    await joinProject(s, '1');
    s.send(['1', '2', 'project:1', 'phx_leave', {}]);
    expect((await reply(s, '2'))[4]).toEqual({ status: 'ok', response: {} });
    expect((await s.next((f) => f[3] === 'phx_close')) as Frame).toEqual(['1', '1', 'project:1', 'phx_close', {}]);
    // After leaving, pushes on that topic are unmatched again.
    s.send(['1', '3', 'project:1', 'chat:message', { text: 'hi' }]);
    expect((await reply(s, '3'))[4]).toMatchObject({ status: 'error', response: { code: 'unmatched_topic' } });
  });

  it('answers an unknown event and an invalid payload with coded errors', async () => {
    const s = await open();
    await joinProject(s, '1');
    s.send(['1', '2', 'project:1', 'no:such_event', {}]);
    expect((await reply(s, '2'))[4]).toMatchObject({ status: 'error', response: { code: 'unknown_event' } });
    s.send(['1', '3', 'project:1', 'chat:message', { text: 'x', extra: true }]);
    expect((await reply(s, '3'))[4]).toMatchObject({ status: 'error', response: { code: 'invalid_payload' } });
    s.send(['1', '4', 'project:1', 'chat:message', 'not an object']);
    expect((await reply(s, '4'))[4]).toMatchObject({ status: 'error', response: { code: 'invalid_payload' } });
  });

  it('gives every push exactly one reply echoing its ref', async () => {
    const s = await open();
    await joinProject(s, '1');
    const refs = Array.from({ length: 12 }, (_, i) => `r${i}`);
    refs.forEach((ref, i) => {
      if (i % 3 === 0) s.send(['1', ref, 'project:1', 'chat:message', { text: `m${i}` }]);
      else if (i % 3 === 1) s.send(['1', ref, 'project:1', 'chat:message', { text: '' }]);
      else s.send(['1', ref, 'project:1', 'bogus:event', {}]);
    });
    for (const ref of refs) await reply(s, ref);
    await new Promise((r) => setTimeout(r, 300));
    const replies = s.frames.filter((f) => f[3] === 'phx_reply' && refs.includes(f[1] as string));
    expect(replies).toHaveLength(refs.length);
    expect(new Set(replies.map((f) => f[1])).size).toBe(refs.length);
  });

  it('closes on a frame that is not JSON (1007), on a binary frame (1003) and on an oversized frame (1009)', async () => {
    const a = await open();
    a.sendRaw('this is not json');
    expect((await a.closed).code).toBe(1007);
    const b = await open();
    b.sendBinary(Buffer.from([1, 2, 3]));
    expect((await b.closed).code).toBe(1003);
    const c = await open();
    await joinProject(c, '1');
    c.send(['1', '2', 'project:1', 'chat:message', { text: 'x'.repeat(70 * 1024) }]);
    expect((await c.closed).code).toBe(1009);
  });

  it('closes a socket that stays silent past the idle timeout; heartbeats keep one open', async () => {
    const silent = await open();
    const chatty = await open();
    const beat = setInterval(() => chatty.send([null, 'hb', 'phoenix', 'heartbeat', {}]), 500);
    try {
      const closed = await silent.closed;
      expect(closed.code).toBe(1001);
      expect(chatty.isOpen).toBe(true);
    } finally {
      clearInterval(beat);
    }
  });

  it('drops a duplicate projection (same stream version) instead of delivering it twice', async () => {
    const s = await open();
    await joinProject(s, '1');
    s.send(['1', '2', 'project:1', 'chat:message', { text: 'once only' }]);
    const posted = (await reply(s, '2'))[4].response;
    const first = (await s.next((f) => f[3] === 'chat:new_message' && (f[4] as Payload).id === posted.id)) as Frame;
    expect(first[0]).toBeNull();
    // Replay the very same published event, as a relay retry would.
    const nc = await connect({ servers: testNatsUrl() });
    try {
      const sub = nc.subscribe('project.1.ev.chat.>', { max: 1 });
      s.send(['1', '3', 'project:1', 'chat:message', { text: 'marker' }]);
      let replayed: Uint8Array | null = null;
      for await (const m of sub) replayed = m.data;
      expect(replayed).not.toBeNull();
      const event = JSON.parse(new TextDecoder().decode(replayed!)) as { broadcast: { payload: { id: unknown } } };
      nc.publish('project.1.ev.chat.MessagePosted', JSON.stringify(event));
      await nc.flush();
      await new Promise((r) => setTimeout(r, 500));
      const copies = s.frames.filter((f) => f[3] === 'chat:new_message' && (f[4] as Payload).id === event.broadcast.payload.id);
      expect(copies).toHaveLength(1);
    } finally {
      await nc.close();
    }
  });

  it('serves /healthz; /readyz?full turns 503 when a service is down, while /readyz (this gateway can serve) stays 200 and says which', async () => {
    expect((await fetch(`${stack.gatewayUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.gatewayUrl}/readyz?full`)).status).toBe(200);
    await stack.kill('checklist', 'SIGTERM');
    const down = await fetch(`${stack.gatewayUrl}/readyz?full`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ services: { checklist: 'unavailable', chat: 'ok' } });
    const gatewayOnly = await fetch(`${stack.gatewayUrl}/readyz`);
    expect(gatewayOnly.status).toBe(200);
    expect(await gatewayOnly.json()).toMatchObject({ nats: 'ok', services: { checklist: 'unavailable' } });
    // A join needs every service's snapshot: it fails with unavailable rather than a room with a
    // hole. (A join may share a complete read another join of its room made in the last
    // SNAPSHOT_SHARE_MS: so the earlier tests' sockets leave first, and the room with them.)
    for (const old of sockets.splice(0)) await old.close();
    await expect.poll(() => scrapeValue(`${stack.gatewayUrl}/metrics`, 'siteflow_gateway_room_members'), { timeout: 10_000 }).toBe(0);
    const s = await open();
    expect((await joinProject(s, '1'))[4]).toMatchObject({ status: 'error', response: { code: 'unavailable' } });
    await stack.start('checklist');
    expect((await fetch(`${stack.gatewayUrl}/readyz?full`)).status).toBe(200);
  });
});
