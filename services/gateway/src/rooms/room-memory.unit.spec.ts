import type { Msg, NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { emptyRoomStats, Room, VERSIONS_PER_ROOM, type RoomClient, type RoomStats } from './rooms.js';

/** A room on a fake NATS: `publish` hands a projection to the room's subscription callback. */
function setup() {
  let callback: ((err: Error | null, msg: Msg) => void) | undefined;
  const nats = {
    subscribe: (_subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }) => {
      callback = opts.callback;
      return { unsubscribe: () => undefined };
    },
  } as unknown as NatsConnection;
  const stats: RoomStats = emptyRoomStats();
  const room = new Room('project:1', 'project.1.>', nats, pino({ level: 'silent' }), stats);
  const publish = (subject: string, body: unknown) =>
    callback!(null, { subject, data: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)) } as Msg);
  const member = (id: string) => {
    const frames: unknown[][] = [];
    const client: RoomClient = { id, send: (text) => frames.push(JSON.parse(text.toString()) as unknown[]) };
    return { client, frames, texts: () => frames.map((f) => (f[4] as { text?: string }).text) };
  };
  return { room, stats, publish, member };
}

/** A member's snapshot floors as the room holds them. */
const floorsOf = (room: Room, id: string) =>
  (room.members.get(id) as unknown as { floors: { versions: ReadonlyMap<string, number> } | null } | undefined)?.floors ?? null;

let seq = 0;
const event = (stream_id: string, version: number, text: string | null) => ({
  event_id: `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
  type: 'MessagePosted',
  stream_id,
  version,
  global_position: seq,
  project_id: 1,
  occurred_at: '2026-12-01T00:00:00.000Z',
  data: {},
  broadcast: text === null ? null : { event: 'chat:new_message', payload: { text } },
});

describe('Room: what it remembers', () => {
  it('forwards each version of a stream once, in order, and drops a replayed one', () => {
    const { room, stats, publish, member } = setup();
    const a = member('a');
    room.addJoining(a.client, '1');
    room.activate('a', '1', {});
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 1, 'one'));
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 2, 'two'));
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 1, 'one'));
    expect(a.texts()).toEqual(['one', 'two']);
    expect(stats.duplicatesDropped).toBe(1);
  });

  it('drops malformed projections (not JSON, no stream version, a bad broadcast) and forwards ephemeral ones', () => {
    const { room, stats, publish, member } = setup();
    const a = member('a');
    room.addJoining(a.client, '1');
    room.activate('a', '1', {});
    publish('project.1.ev.chat.MessagePosted', '{not json');
    publish('project.1.ev.chat.MessagePosted', { ...event('chat-1', 1, 'x'), version: 0 });
    publish('project.1.ev.chat.MessagePosted', { ...event('chat-1', 1, 'x'), broadcast: { event: '', payload: {} } });
    publish('project.1.ev.chat.MessagePosted', { ...event('chat-1', 1, 'x'), data: 'nope' });
    publish('project.1.eph.chat.typing', { broadcast: { event: 'chat:typing', payload: { text: 'typing' } } });
    publish('project.1.eph.chat.typing', { broadcast: { event: 'chat:typing', payload: 'nope' } });
    expect(a.texts()).toEqual(['typing']);
    expect(stats.delivered).toBe(1);
  });

  it('remembers a bounded number of streams: the least recently published goes first', () => {
    const { room, publish, member } = setup();
    const a = member('a');
    room.addJoining(a.client, '1');
    room.activate('a', '1', {});
    // One stream per session, as presence has them: far more than the room remembers.
    for (let i = 0; i < VERSIONS_PER_ROOM * 3; i++) publish('project.1.ev.presence.SessionStarted', event(`session-${i}`, 1, null));
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 1, 'one'));
    expect((room as unknown as { versions: Map<string, number> }).versions.size).toBe(VERSIONS_PER_ROOM);
    // The streams published most recently are still de-duplicated.
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 1, 'one'));
    expect(a.texts()).toEqual(['one']);
  });

  it('a joiner gets nothing its snapshot already holds, also for streams the room had seen, and keeps only floors it needs', () => {
    const { room, publish, member } = setup();
    const old = member('old');
    room.addJoining(old.client, '1');
    room.activate('old', '1', {});
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 1, 'one'));
    const joiner = member('new');
    room.addJoining(joiner.client, '2');
    // Arrives while the joiner's snapshot is read, and is in it (version 2); chat-2's v1 is in the
    // snapshot but reaches this room only after the join.
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 2, 'two'));
    expect(room.activate('new', '2', { 'chat-1': 2, 'chat-2': 1, 'session-x': 3 })).toBe(true);
    expect(floorsOf(room, 'new') && [...floorsOf(room, 'new')!.versions.keys()].sort()).toEqual(['chat-2', 'session-x']);
    publish('project.1.ev.chat.MessagePosted', event('chat-2', 1, 'late'));
    publish('project.1.ev.chat.MessagePosted', event('chat-1', 3, 'three'));
    publish('project.1.ev.chat.MessagePosted', event('chat-2', 2, 'four'));
    expect(joiner.texts()).toEqual(['three', 'four']);
    expect(old.texts()).toEqual(['one', 'two', 'late', 'three', 'four']);
  });

  it('members with the same floors share one set, and move to one set as a stream passes them', () => {
    const { room, publish, member } = setup();
    const floors = { 'documents-1': 4, 'checklist-1': 2 };
    const a = member('a');
    const b = member('b');
    room.addJoining(a.client, '1');
    room.activate('a', '1', { ...floors });
    room.addJoining(b.client, '2');
    room.activate('b', '2', { ...floors });
    expect(floorsOf(room, 'a')).not.toBeNull();
    expect(floorsOf(room, 'a')).toBe(floorsOf(room, 'b'));
    publish('project.1.ev.documents.DocumentSaved', event('documents-1', 4, 'in both snapshots'));
    publish('project.1.ev.documents.DocumentSaved', event('documents-1', 5, 'new'));
    expect(a.texts()).toEqual(['new']);
    expect(b.texts()).toEqual(['new']);
    expect([...floorsOf(room, 'a')!.versions.keys()]).toEqual(['checklist-1']);
    expect(floorsOf(room, 'a')).toBe(floorsOf(room, 'b'));
    // A later joiner whose snapshot holds the checklist further: its own floors, the others keep theirs.
    const c = member('c');
    room.addJoining(c.client, '3');
    room.activate('c', '3', { 'documents-1': 5, 'checklist-1': 3 });
    expect(floorsOf(room, 'c')).not.toBe(floorsOf(room, 'a'));
    publish('project.1.ev.checklist.ItemToggled', event('checklist-1', 3, 'toggled'));
    expect(a.texts()).toEqual(['new', 'toggled']);
    expect(c.texts()).toEqual([]);
    expect(floorsOf(room, 'a')).toBeNull();
  });
});
