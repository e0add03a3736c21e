import { describe, expect, it, vi } from 'vitest';
import { NOT_A_MEMBER, subjects, type ReplyEnvelope } from '@siteflow/contracts';
import { alice, containing, FakeNats, FakeSocket, silentLogger, testConfig } from '../test-fixtures/fakes.js';
import { Rooms } from '../rooms/rooms.js';
import { Connection } from './connection.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const ISO = '2026-12-01T10:00:00.000Z';

/** What the four services answer for project 7's room, with the stream versions they read. */
const parts: Record<string, ReplyEnvelope> = {
  documents: {
    ok: true,
    data: {
      part: {
        documents: [],
        project: {
          id: 7,
          name: 'Atlas',
          status: 'planning',
          members: [{ user_id: alice.id, username: 'alice', role: 'admin', avatar_url: '' }],
          created_at: ISO,
          updated_at: ISO,
        },
      },
      versions: { 'documents-7': 5 },
    },
  },
  presence: { ok: true, data: { part: { state: {}, last_seen: [] }, versions: {} } },
  chat: { ok: true, data: { part: { messages: [], has_more: false, unread_count: 0 }, versions: { 'chat-7': 3 } } },
  checklist: { ok: true, data: { part: { items: [], progress: { progress: 0, completed_items: 0, total_items: 0 } }, versions: {} } },
};

/** A service's reply that the test releases when it wants. */
function held() {
  let release!: (reply: ReplyEnvelope) => void;
  const promise = new Promise<ReplyEnvelope>((resolve) => (release = resolve));
  return { responder: () => promise, release };
}

function setup(env: Record<string, string> = {}) {
  const nats = new FakeNats();
  nats.answer('documents.project.membership', () => ({ ok: true, data: { role: 'admin' } }));
  for (const [service, reply] of Object.entries(parts)) nats.answer(subjects.snapshot(service as 'chat'), () => reply);
  const rooms = new Rooms(nats.asConnection(), silentLogger);
  const ws = new FakeSocket();
  let now = T0;
  const clock = { advance: (ms: number) => (now += ms) };
  const conn = new Connection('c1', alice, ws.asWebSocket(), {
    config: testConfig(env),
    logger: silentLogger,
    nats: nats.asConnection(),
    rooms,
    now: () => now,
  });
  const send = (frame: unknown[]) => conn.onFrame(JSON.stringify(frame));
  /** Waits for the next `n` frames the socket is sent and takes them. */
  const frames = async (n: number) => {
    await vi.waitFor(() => expect(ws.sent.length).toBeGreaterThanOrEqual(n));
    return ws.take();
  };
  return { nats, rooms, ws, conn, send, frames, clock };
}

describe('Connection', () => {
  it('answers a heartbeat and counts it as activity', () => {
    const { conn, ws, send, clock } = setup();
    clock.advance(30_000);
    send([null, '1', 'phoenix', 'heartbeat', {}]);
    expect(ws.take()).toEqual([[null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]]);
    expect(conn.lastFrameAt).toBe(T0 + 30_000);
  });

  it('joins project:<id>: membership, then the room, then presence_state; then routes pushes with the project role', async () => {
    const { nats, rooms, send, frames } = setup();
    nats.answer('chat.message.post', () => ({ ok: true, data: { id: 'm_1' } }));
    send(['3', '3', 'project:7', 'phx_join', {}]);
    const [reply, presence] = await frames(2);
    expect(reply).toEqual(['3', '3', 'project:7', 'phx_reply', { status: 'ok', response: containing({ project: containing({ id: 7 }) }) }]);
    expect(presence).toEqual(['3', null, 'project:7', 'presence_state', {}]);
    expect(nats.requests.map((r) => r.subject)).toEqual([
      'documents.project.membership',
      'documents.snapshot',
      'presence.snapshot',
      'chat.snapshot',
      'checklist.snapshot',
    ]);
    expect(rooms.get('project:7')?.joinRefOf('c1')).toBe('3');
    send(['3', '4', 'project:7', 'chat:message', { text: 'hello' }]);
    expect(await frames(1)).toEqual([['3', '4', 'project:7', 'phx_reply', { status: 'ok', response: { id: 'm_1' } }]]);
    expect(nats.requests.at(-1)).toEqual({
      subject: 'chat.message.post',
      data: {
        ctx: containing({ user_id: alice.id, role: 'admin', connection_id: 'c1', project_id: 7 }),
        payload: { text: 'hello' },
      },
    });
  });

  it('refuses a push while its join is pending, and never sends it to a service', async () => {
    const { nats, ws, send, frames } = setup();
    const membership = held();
    nats.answer('documents.project.membership', membership.responder);
    send(['3', '3', 'project:7', 'phx_join', {}]);
    send(['3', '4', 'project:7', 'chat:message', { text: 'too early' }]);
    expect(ws.take()).toEqual([
      ['3', '4', 'project:7', 'phx_reply', { status: 'error', response: containing({ code: 'unmatched_topic' }) }],
    ]);
    membership.release({ ok: true, data: { role: 'customer' } });
    expect((await frames(2))[0]).toMatchObject(['3', '3', 'project:7', 'phx_reply', { status: 'ok' }]);
    expect(nats.requests.map((r) => r.subject)).not.toContain('chat.message.post');
  });

  it('flushes what arrived during the join only when the snapshot lacks it', async () => {
    const { nats, send, frames } = setup();
    const chat = held();
    nats.answer('chat.snapshot', chat.responder);
    send(['3', '3', 'project:7', 'phx_join', {}]);
    await vi.waitFor(() => expect(nats.subscriptions).toEqual(['project.7.>']));
    const published = (version: number, text: string) => ({
      event_id: '00000000-0000-4000-8000-00000000000' + String(version),
      type: 'MessagePosted',
      stream_id: 'chat-7',
      version,
      global_position: version,
      project_id: 7,
      occurred_at: ISO,
      data: {},
      broadcast: { event: 'chat:new_message', payload: { text } },
    });
    nats.deliver('project.7.ev.chat.MessagePosted', published(3, 'in the snapshot'));
    nats.deliver('project.7.ev.chat.MessagePosted', published(4, 'after it'));
    chat.release(parts.chat!);
    const [reply, presence, flushed, ...rest] = await frames(3);
    expect(reply).toMatchObject(['3', '3', 'project:7', 'phx_reply', { status: 'ok' }]);
    expect(presence).toEqual(['3', null, 'project:7', 'presence_state', {}]);
    expect(flushed).toEqual([null, null, 'project:7', 'chat:new_message', { text: 'after it' }]);
    expect(rest).toEqual([]);
  });

  it('refuses a non-member with the one refusal, and leaves no room behind', async () => {
    const { nats, rooms, send, frames } = setup();
    nats.answer('documents.project.membership', () => ({ ok: false, error: { code: 'unauthorized', message: 'no' } }));
    send(['3', '3', 'project:8', 'phx_join', {}]);
    expect(await frames(1)).toEqual([
      ['3', '3', 'project:8', 'phx_reply', { status: 'error', response: { reason: NOT_A_MEMBER.message, code: NOT_A_MEMBER.code } }],
    ]);
    expect(rooms.get('project:8')).toBeUndefined();
    expect(nats.requests.map((r) => r.subject)).toEqual(['documents.project.membership']);
  });

  it('rejoining a joined topic closes the old join first', () => {
    const { rooms, ws, send } = setup();
    send(['1', '1', 'user:1', 'phx_join', {}]);
    expect(ws.take()).toEqual([['1', '1', 'user:1', 'phx_reply', { status: 'ok', response: {} }]]);
    send(['5', '5', 'user:1', 'phx_join', {}]);
    expect(ws.take()).toEqual([
      ['1', '1', 'user:1', 'phx_close', {}],
      ['5', '5', 'user:1', 'phx_reply', { status: 'ok', response: {} }],
    ]);
    expect(rooms.get('user:1')?.joinRefOf('c1')).toBe('5');
  });

  it('a rejoin while a project join is pending supersedes it: only the new join is answered', async () => {
    const { nats, ws, send, frames } = setup();
    const first = held();
    nats.answer('documents.project.membership', first.responder);
    send(['3', '3', 'project:7', 'phx_join', {}]);
    nats.answer('documents.project.membership', () => ({ ok: true, data: { role: 'admin' } }));
    send(['6', '6', 'project:7', 'phx_join', {}]);
    const [close, reply] = await frames(3);
    expect(close).toEqual(['3', '3', 'project:7', 'phx_close', {}]);
    expect(reply).toMatchObject(['6', '6', 'project:7', 'phx_reply', { status: 'ok' }]);
    first.release({ ok: true, data: { role: 'admin' } });
    await new Promise((resolve) => setImmediate(resolve));
    // The first join, answered late, reads no snapshot and replies nothing.
    expect(nats.requests.filter((r) => r.subject === 'documents.snapshot')).toHaveLength(1);
    expect(ws.sent).toEqual([]);
  });

  it('drops a push carrying an older join_ref than the topic current join, silently', () => {
    const { nats, ws, send } = setup();
    send(['1', '1', 'user:1', 'phx_join', {}]);
    send(['5', '5', 'user:1', 'phx_join', {}]);
    ws.take();
    send(['1', '7', 'user:1', 'anything', {}]);
    expect(ws.take()).toEqual([]);
    expect(nats.requests).toEqual([]);
    send(['5', '8', 'user:1', 'anything', {}]);
    expect(ws.take()).toEqual([['5', '8', 'user:1', 'phx_reply', { status: 'error', response: containing({ code: 'unknown_event' }) }]]);
  });

  it("refuses another user's topic, an unknown topic, and a push or leave on a topic not joined", () => {
    const { ws, send } = setup();
    send(['1', '1', 'user:2', 'phx_join', {}]);
    send(['2', '2', 'lobby', 'phx_join', {}]);
    send(['3', '3', 'project:7', 'chat:message', { text: 'x' }]);
    send(['4', '4', 'project:7', 'phx_leave', {}]);
    expect(ws.take().map((f) => [(f as unknown[])[2], ((f as unknown[])[4] as { response: { code: string } }).response.code])).toEqual([
      ['user:2', 'unauthorized'],
      ['lobby', 'unmatched_topic'],
      ['project:7', 'unmatched_topic'],
      ['project:7', 'unmatched_topic'],
    ]);
  });

  it('leaves: ok, then phx_close, and out of the room', () => {
    const { rooms, ws, send } = setup();
    send(['1', '1', 'user:1', 'phx_join', {}]);
    ws.take();
    send(['1', '2', 'user:1', 'phx_leave', {}]);
    expect(ws.take()).toEqual([
      ['1', '2', 'user:1', 'phx_reply', { status: 'ok', response: {} }],
      ['1', '1', 'user:1', 'phx_close', {}],
    ]);
    expect(rooms.get('user:1')).toBeUndefined();
  });

  it('refuses frames over the rate, then closes a flood that goes on', () => {
    const { ws, send } = setup({ FRAMES_PER_SECOND: '1', MAX_RATE_LIMITED_FRAMES: '3' });
    for (let i = 1; i <= 4; i++) send([null, String(i), 'phoenix', 'heartbeat', {}]);
    const sent = ws.take() as unknown[][];
    expect(sent.slice(0, 2).map((f) => (f[4] as { status: string }).status)).toEqual(['ok', 'ok']);
    const limited = (ref: string) => [
      null,
      ref,
      'phoenix',
      'phx_reply',
      { status: 'error', response: containing({ code: 'rate_limited' }) },
    ];
    expect(sent.slice(2)).toEqual([limited('3'), limited('4')]);
    expect(ws.closedWith).toBeNull();
    send([null, '5', 'phoenix', 'heartbeat', {}]);
    expect(ws.closedWith).toEqual({ code: 1008, reason: 'too many frames' });
  });

  it('terminates a socket that does not read what it is sent', () => {
    const { ws, send } = setup();
    ws.bufferedAmount = 64 * 1024 * 1024;
    send([null, '1', 'phoenix', 'heartbeat', {}]);
    expect(ws.terminated).toBe(true);
    expect(ws.sent).toEqual([]);
  });

  it('dispose leaves every room', () => {
    const { rooms, conn, send } = setup();
    send(['1', '1', 'user:1', 'phx_join', {}]);
    conn.dispose();
    expect(rooms.get('user:1')).toBeUndefined();
    expect(conn.isClosed).toBe(true);
  });
});
