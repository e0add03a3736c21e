import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { Broadcast, PublishedEvent } from '@siteflow/contracts';
import { FakeNats, silentLogger } from '../test-fixtures/fakes.js';
import { Rooms, type RoomClient } from './rooms.js';

const TOPIC = 'project:7';
const SUBJECT = 'project.7.>';

/** A stored event as the relay publishes it. */
function event(
  stream_id: string,
  version: number,
  broadcast: Broadcast | null,
  type = 'Something',
  data: Record<string, unknown> = {},
): PublishedEvent {
  return {
    event_id: randomUUID(),
    type,
    stream_id,
    version,
    global_position: version,
    project_id: 7,
    occurred_at: '2026-12-01T10:00:00.000Z',
    data,
    broadcast,
  };
}
const said = (text: string, exclude?: string): Broadcast => ({
  event: 'chat:new_message',
  payload: { text },
  ...(exclude ? { exclude_connection_id: exclude } : {}),
});

/** A member that records the events it was sent (their payloads' text). */
function client(id: string) {
  const frames: unknown[][] = [];
  const c = {
    id,
    frames,
    send: (data: string | Buffer) => frames.push(JSON.parse(data.toString()) as unknown[]),
    removedFromProject: vi.fn<NonNullable<RoomClient['removedFromProject']>>(),
    texts: () => frames.map((f) => (f[4] as { text?: string }).text),
  };
  return c;
}

function setup() {
  const nats = new FakeNats();
  const rooms = new Rooms(nats.asConnection(), silentLogger);
  const room = rooms.acquire(TOPIC, SUBJECT);
  const publish = (e: PublishedEvent) => nats.deliver(`project.7.ev.chat.${e.type}`, e);
  return { nats, rooms, room, publish };
}

/** Joins a member all the way (empty snapshot floors unless given). */
function joined(room: ReturnType<typeof setup>['room'], id: string, floors: Record<string, number> = {}) {
  const c = client(id);
  room.addJoining(c, `${id}-join`);
  room.activate(c.id, `${id}-join`, floors);
  return c;
}

describe('Room', () => {
  it('serialises a projection once and sends it to every member as a broadcast frame', () => {
    const { room, publish } = setup();
    const a = joined(room, 'a');
    const b = joined(room, 'b');
    publish(event('chat-7', 1, said('hi')));
    expect(a.frames).toEqual([[null, null, TOPIC, 'chat:new_message', { text: 'hi' }]]);
    expect(b.frames).toEqual(a.frames);
  });

  it('drops a duplicate or lower version of a stream (relay retries), counting it', () => {
    const { rooms, room, publish } = setup();
    const a = joined(room, 'a');
    publish(event('chat-7', 1, said('one')));
    publish(event('chat-7', 2, said('two')));
    publish(event('chat-7', 2, said('two again')));
    publish(event('chat-7', 1, said('one again')));
    publish(event('checklist-7', 1, said('other stream')));
    expect(a.texts()).toEqual(['one', 'two', 'other stream']);
    expect(rooms.snapshotStats()).toMatchObject({ duplicatesDropped: 2, delivered: 3, rooms: 1, members: 1 });
  });

  it('a version gap is delivered and counted (not every event of a stream reaches this topic)', () => {
    const { rooms, room, publish } = setup();
    const a = joined(room, 'a');
    publish(event('chat-7', 1, said('one')));
    publish(event('chat-7', 5, said('five')));
    expect(a.texts()).toEqual(['one', 'five']);
    expect(rooms.snapshotStats().gaps).toBe(1);
  });

  it('buffers what arrives while a join reads its snapshot, and flushes only what the snapshot lacks', () => {
    const { room, publish } = setup();
    const c = client('c');
    room.addJoining(c, 'j1');
    publish(event('chat-7', 3, said('in the snapshot')));
    publish(event('chat-7', 4, said('after the snapshot')));
    publish(event('checklist-7', 9, said('stream the snapshot does not name')));
    expect(c.frames).toEqual([]);
    expect(room.activate('c', 'j1', { 'chat-7': 3 })).toBe(true);
    expect(c.texts()).toEqual(['after the snapshot', 'stream the snapshot does not name']);
  });

  it('snapshot floors hold for live deliveries too, until the stream passes them', () => {
    const { room, publish } = setup();
    publish(event('chat-7', 4, said('seen before the join')));
    const c = joined(room, 'c', { 'documents-7': 10 });
    publish(event('documents-7', 10, said('in the snapshot')));
    publish(event('documents-7', 11, said('new')));
    expect(c.texts()).toEqual(['new']);
  });

  it('skips the connection a broadcast excludes (the saving socket)', () => {
    const { room, publish } = setup();
    const a = joined(room, 'a');
    const b = joined(room, 'b');
    publish(event('documents-7', 1, said('saved', 'a')));
    expect(a.frames).toEqual([]);
    expect(b.texts()).toEqual(['saved']);
  });

  it('ephemeral messages go to everyone but the excluded, with no version check', () => {
    const { nats, room } = setup();
    const a = joined(room, 'a');
    const b = joined(room, 'b');
    nats.deliver('project.7.eph.chat.typing', {
      broadcast: { event: 'chat:typing', payload: { typing: true }, exclude_connection_id: 'a' },
    });
    nats.deliver('project.7.eph.chat.typing', { broadcast: { event: 'chat:typing', payload: { typing: false } } });
    expect(a.frames).toEqual([[null, null, TOPIC, 'chat:typing', { typing: false }]]);
    expect(b.frames).toHaveLength(2);
  });

  it("fills a payload's fields from the event's data where the broadcast names them, after its own", () => {
    const { room, publish } = setup();
    const a = joined(room, 'a');
    const b = joined(room, 'b');
    const content = '# Timeline\n'.repeat(1000);
    publish(
      event(
        'document-5',
        2,
        {
          event: 'document:updated',
          payload: { document_id: 5, version: 2 },
          payload_from_data: { content: 'content' },
          exclude_connection_id: 'a',
        },
        'DocumentSaved',
        { document_id: 5, content, saved_by: 1 },
      ),
    );
    expect(a.frames).toEqual([]);
    expect(b.frames).toEqual([[null, null, TOPIC, 'document:updated', { document_id: 5, version: 2, content }]]);
    // The frame as clients parse it: the named field last, under the payload's key.
    expect(Object.keys(b.frames[0]![4] as object)).toEqual(['document_id', 'version', 'content']);
    publish(
      event('chat-7', 1, { event: 'chat:new_message', payload: {}, payload_from_data: { text: 'body' } }, 'MessagePosted', { body: 'hi' }),
    );
    expect(b.frames[1]).toEqual([null, null, TOPIC, 'chat:new_message', { text: 'hi' }]);
  });

  it('a broadcast naming data the event lacks, or naming it wrongly, is malformed: dropped, and the stream stays where it was', () => {
    const { nats, room, publish } = setup();
    const a = joined(room, 'a');
    publish(
      event('document-5', 1, { event: 'document:updated', payload: {}, payload_from_data: { content: 'content' } }, 'DocumentSaved', {}),
    );
    publish(event('document-5', 1, { event: 'document:updated', payload: {}, payload_from_data: { content: 7 } } as unknown as Broadcast));
    publish(event('document-5', 1, { event: 'document:updated', payload: {}, payload_from_data: ['content'] } as unknown as Broadcast));
    // Ephemeral messages have no data to fill from.
    nats.deliver('project.7.eph.chat.typing', {
      broadcast: { event: 'chat:typing', payload: {}, payload_from_data: { typing: 'typing' } },
    });
    expect(a.frames).toEqual([]);
    // Version 1 was never taken as heard: a well-formed version 1 is delivered.
    publish(event('document-5', 1, said('saved')));
    expect(a.texts()).toEqual(['saved']);
  });

  it('malformed projections are dropped without throwing', () => {
    const { nats, room } = setup();
    const a = joined(room, 'a');
    nats.deliver('project.7.ev.chat.X', 'not json');
    nats.deliver('project.7.ev.chat.X', { stream_id: 'chat-7' });
    nats.deliver('project.7.eph.chat.typing', { nope: true });
    expect(a.frames).toEqual([]);
  });

  it('activate refuses a join that was superseded or removed meanwhile', () => {
    const { room } = setup();
    const c = client('c');
    room.addJoining(c, 'j1');
    room.addJoining(c, 'j2');
    expect(room.activate('c', 'j1', {})).toBe(false);
    expect(room.activate('c', 'j2', {})).toBe(true);
    expect(room.activate('c', 'j2', {})).toBe(false);
    expect(room.remove('c', 'j1')).toBe(false);
    expect(room.remove('c', 'j2')).toBe(true);
    expect(room.activate('c', 'j2', {})).toBe(false);
  });

  it('tells members when a stored event removed a user from the project, after delivering it', () => {
    const { room, publish } = setup();
    const a = joined(room, 'a');
    publish(event('project-7', 2, said('removed'), 'ProjectMembershipChanged', { user_id: 3, role: null }));
    publish(event('project-7', 3, null, 'ProjectMembershipChanged', { user_id: 4, role: null }));
    publish(event('project-7', 4, null, 'ProjectMembershipChanged', { user_id: 5, role: 'admin' }));
    expect(a.texts()).toEqual(['removed']);
    expect(a.removedFromProject.mock.calls).toEqual([
      [3, TOPIC, 'a-join'],
      [4, TOPIC, 'a-join'],
    ]);
  });
});

describe('Room: fast copies (docs/consistency.md, rule 10)', () => {
  /** Publishes a service's fast copy of a stored event (its `now` subject). */
  const fast = (nats: FakeNats, e: PublishedEvent) => nats.deliver(`project.7.now.chat.${e.type}`, e);

  it("delivers the next version of a heard stream at once, and drops the relay's copy of it", () => {
    const { nats, rooms, room, publish } = setup();
    const a = joined(room, 'a');
    publish(event('chat-7', 1, said('one')));
    const two = event('chat-7', 2, said('two'));
    fast(nats, two);
    expect(a.texts()).toEqual(['one', 'two']);
    publish(two); // the relay's copy, later
    expect(a.texts()).toEqual(['one', 'two']);
    const stats = rooms.snapshotStats();
    expect(stats.fastDelivered).toBe(1);
    expect(stats.duplicatesDropped).toBe(1);
  });

  it('never puts a later version ahead of an earlier one: out of order, a fast copy waits for the relay', () => {
    const { nats, rooms, room, publish } = setup();
    const a = joined(room, 'a');
    publish(event('chat-7', 1, said('one')));
    const two = event('chat-7', 2, said('two'));
    const three = event('chat-7', 3, said('three'));
    fast(nats, three); // another instance's copy of version 3 overtook version 2's
    expect(a.texts()).toEqual(['one']);
    fast(nats, two);
    publish(two);
    publish(three);
    expect(a.texts()).toEqual(['one', 'two', 'three']);
    expect(rooms.snapshotStats()).toMatchObject({ fastDelivered: 1, fastSkipped: 1 });
  });

  it("a stream the room has not heard, or one that skipped a version here, is left to the relay's copy", () => {
    const { nats, rooms, room, publish } = setup();
    const a = joined(room, 'a');
    fast(nats, event('chat-7', 5, said('first heard')));
    expect(a.texts()).toEqual([]);
    publish(event('chat-7', 5, said('first heard')));
    // Version 6 went to a user's topic: the room cannot tell it from one still on its way.
    fast(nats, event('chat-7', 7, said('after a gap')));
    expect(a.texts()).toEqual(['first heard']);
    publish(event('chat-7', 7, said('after a gap')));
    expect(a.texts()).toEqual(['first heard', 'after a gap']);
    expect(rooms.snapshotStats()).toMatchObject({ fastDelivered: 0, fastSkipped: 2 });
  });

  it("a joiner's snapshot floor holds for fast copies as for the relay's", () => {
    const { nats, room, publish } = setup();
    const a = joined(room, 'a');
    publish(event('chat-7', 1, said('one')));
    const b = client('b');
    room.addJoining(b, 'b-join');
    fast(nats, event('chat-7', 2, said('two'))); // buffered while b reads its snapshot
    room.activate(b.id, 'b-join', { 'chat-7': 2 }); // the snapshot already holds version 2
    fast(nats, event('chat-7', 3, said('three')));
    expect(a.texts()).toEqual(['one', 'two', 'three']);
    expect(b.texts()).toEqual(['three']);
  });
});

describe('Rooms', () => {
  it('subscribes on the first join and unsubscribes on the last leave', () => {
    const { nats, rooms, room } = setup();
    expect(nats.subscriptions).toEqual([SUBJECT]);
    joined(room, 'a');
    joined(room, 'b');
    expect(rooms.acquire(TOPIC, SUBJECT)).toBe(room);
    expect(rooms.leave(TOPIC, 'a', 'a-join')).toBe(true);
    expect(nats.subscriptions).toEqual([SUBJECT]);
    expect(rooms.leave(TOPIC, 'b', 'stale-join')).toBe(false);
    expect(rooms.leave(TOPIC, 'b')).toBe(true);
    expect(nats.subscriptions).toEqual([]);
    expect(rooms.get(TOPIC)).toBeUndefined();
  });

  it('evictAll empties every room and says who was in them', () => {
    const { nats, rooms, room } = setup();
    joined(room, 'a');
    joined(rooms.acquire('user:1', 'user.1.>'), 'b');
    expect(rooms.evictAll()).toEqual([
      { topic: TOPIC, clientId: 'a', joinRef: 'a-join' },
      { topic: 'user:1', clientId: 'b', joinRef: 'b-join' },
    ]);
    expect(nats.subscriptions).toEqual([]);
    expect(rooms.snapshotStats()).toMatchObject({ rooms: 0, members: 0 });
  });
});

describe('Room: joins share one snapshot read', () => {
  type Read = Parameters<ReturnType<typeof setup>['room']['addJoiningWithSnapshot']>[2];
  type Result = Awaited<ReturnType<Read>>;
  /** A snapshot read the test settles: the room's chat stream at `version`, read for user 1. */
  function pendingRead() {
    let settle!: (r: Result) => void;
    const result = new Promise<Result>((r) => (settle = r));
    const read = vi.fn(() => result);
    const ok = (version: number): Result => ({
      ok: true,
      snapshot: {
        project: null,
        documents: [],
        checklist: { items: [], progress: { progress: 0, completed_items: 0, total_items: 0 } },
        chat: { messages: [], has_more: false, unread_count: 0 },
        members_last_seen: [],
      },
      presence: {},
      versions: { 'chat-7': version },
    });
    return { read, settle, ok };
  }

  it('a join while a read is in flight shares it and is given what reached the room since the read was sent', async () => {
    const { rooms, room, publish } = setup();
    const first = pendingRead();
    const a = client('a');
    const b = client('b');
    const ja = room.addJoiningWithSnapshot(a, 'ja', first.read);
    publish(event('chat-7', 4, said('before b joined, after the read was sent')));
    const second = pendingRead().read;
    const jb = room.addJoiningWithSnapshot(b, 'jb', second);
    publish(event('chat-7', 5, said('after b joined')));
    expect(second).not.toHaveBeenCalled();
    expect(first.read).toHaveBeenCalledTimes(1);
    expect([ja.shared, jb.shared]).toEqual([false, true]);
    const [ra, rb] = [ja.result, jb.result];

    first.settle(first.ok(4)); // the read saw version 4
    const [sa, sb] = await Promise.all([ra, rb]);
    expect(sb).toBe(sa);
    room.activate('a', 'ja', sa.ok ? sa.versions : {});
    room.activate('b', 'jb', sb.ok ? sb.versions : {});
    // Both see exactly what the snapshot lacks: b was given version 4 too, and dropped it by its floor.
    expect(a.texts()).toEqual(['after b joined']);
    expect(b.texts()).toEqual(['after b joined']);
    expect(rooms.snapshotStats()).toMatchObject({ snapshotReads: 1, snapshotReadsShared: 1 });
  });

  it('what the read did not see reaches a late sharer, as it would have had it subscribed when the read was sent', async () => {
    const { room, publish } = setup();
    const first = pendingRead();
    const a = client('a');
    const b = client('b');
    const ra = room.addJoiningWithSnapshot(a, 'ja', first.read).result;
    publish(event('chat-7', 4, said('four')));
    const rb = room.addJoiningWithSnapshot(b, 'jb', first.read).result;
    first.settle(first.ok(3)); // the read was served before version 4 committed
    const [sa, sb] = await Promise.all([ra, rb]);
    room.activate('a', 'ja', sa.ok ? sa.versions : {});
    room.activate('b', 'jb', sb.ok ? sb.versions : {});
    expect(a.texts()).toEqual(['four']);
    expect(b.texts()).toEqual(['four']);
  });

  it('by default only a read in flight is shared: once settled, the next join reads again', async () => {
    const { rooms, room } = setup();
    const first = pendingRead();
    const ra = room.addJoiningWithSnapshot(client('a'), 'ja', first.read).result;
    first.settle(first.ok(1));
    await ra;
    await Promise.resolve(); // the read's own settle handler
    const again = pendingRead();
    expect(room.addJoiningWithSnapshot(client('b'), 'jb', again.read).shared).toBe(false);
    expect(again.read).toHaveBeenCalledTimes(1);
    expect(rooms.snapshotStats()).toMatchObject({ snapshotReads: 2, snapshotReadsShared: 0 });
  });

  it('a settled read is shared for sharing.ms, then a join reads again', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const nats = new FakeNats();
      const rooms = new Rooms(nats.asConnection(), silentLogger, { ms: 1_000, maxLog: 10 });
      const room = rooms.acquire(TOPIC, SUBJECT);
      const first = pendingRead();
      const ra = room.addJoiningWithSnapshot(client('a'), 'ja', first.read).result;
      first.settle(first.ok(1));
      await ra;
      vi.advanceTimersByTime(900);
      const again = pendingRead();
      void room.addJoiningWithSnapshot(client('b'), 'jb', again.read);
      expect(again.read).not.toHaveBeenCalled();
      vi.advanceTimersByTime(200); // 1,100 ms after it settled
      void room.addJoiningWithSnapshot(client('c'), 'jc', again.read);
      expect(again.read).toHaveBeenCalledTimes(1);
      expect(rooms.snapshotStats()).toMatchObject({ snapshotReads: 2, snapshotReadsShared: 1 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('a read whose log outgrew maxLog, or that failed, is not shared', async () => {
    const nats = new FakeNats();
    const rooms = new Rooms(nats.asConnection(), silentLogger, { ms: 1_000, maxLog: 2 });
    const room = rooms.acquire(TOPIC, SUBJECT);
    const publish = (e: PublishedEvent) => nats.deliver(`project.7.ev.chat.${e.type}`, e);
    const first = pendingRead();
    void room.addJoiningWithSnapshot(client('a'), 'ja', first.read);
    for (let v = 1; v <= 3; v++) publish(event('chat-7', v, said(`m${v}`)));
    const second = pendingRead();
    void room.addJoiningWithSnapshot(client('b'), 'jb', second.read);
    expect(second.read).toHaveBeenCalledTimes(1); // three projections since the first read: not offered

    second.settle({ ok: false, error: { code: 'unavailable', message: 'chat did not answer' } });
    await Promise.resolve();
    await Promise.resolve();
    const third = pendingRead();
    void room.addJoiningWithSnapshot(client('c'), 'jc', third.read);
    expect(third.read).toHaveBeenCalledTimes(1);
  });

  it('a member removal that reached the room before a sharer joined is told to the sharer', () => {
    const { room, publish } = setup();
    const first = pendingRead();
    void room.addJoiningWithSnapshot(client('a'), 'ja', first.read);
    publish(event('project-7', 2, null, 'ProjectMembershipChanged', { project_id: 7, user_id: 3, role: null }));
    const b = client('b');
    void room.addJoiningWithSnapshot(b, 'jb', first.read);
    expect(b.removedFromProject).toHaveBeenCalledWith(3, TOPIC, 'jb');
  });
});
