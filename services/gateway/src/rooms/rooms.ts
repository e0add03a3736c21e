import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Broadcast } from '@siteflow/contracts';
import { contextFromHeaders, inSpanSync, SpanKind, tracingEnabled } from '@siteflow/telemetry';
import { encodeFrame } from '../protocol/frames.js';
import { MembershipReads } from './membership-reads.js';
import { OwnUnreadReads, type RoomSnapshotResult } from './snapshot.js';

/** A socket as a room sees it. */
export interface RoomClient {
  readonly id: string;
  /** A text frame: a string, or its UTF-8 bytes (a broadcast is encoded once for all members). */
  send(text: string | Buffer): void;
  /** The socket's user was removed from the topic's project (documents' `ProjectMembershipChanged`). */
  removedFromProject?(userId: number, topic: string, joinRef: string): void;
}

type Delivery = { streamId: string | null; version: number; frame: Buffer | null; exclude: string | undefined; removedUserId?: number };

/** The user a stored `ProjectMembershipChanged` removed, if that is what it is. */
function removedMember(e: { type: string; data: Record<string, unknown> }): number | undefined {
  return e.type === 'ProjectMembershipChanged' && e.data.role === null && typeof e.data.user_id === 'number' ? e.data.user_id : undefined;
}

interface Member {
  client: RoomClient;
  joinRef: string;
  /** Projections that arrived while the join snapshot was being read. */
  buffer: Delivery[] | null;
  /** Per stream, the version the member's snapshot already contains (shared by the members with the same ones). */
  floors: Floors | null;
}

/** Distinct floor sets a room keeps for sharing; beyond it the table starts over (members keep theirs). */
const FLOOR_SETS_PER_ROOM = 64;

/**
 * Snapshot floors (stream → the version a member's snapshot already contains) that the room has
 * not enforced by its own versions yet: the streams quiet since the room opened (most documents,
 * the checklist), or still on their way. Immutable and shared: the members of a room mostly hold
 * the same ones, so a member holds a reference, not a map of its own. A member whose stream passes
 * its floor moves to `without(stream)`, the same object for every member that had these floors.
 */
class Floors {
  /** Stream → these floors without it (null: none left), once a member passed it. */
  private readonly next = new Map<string, Floors | null>();

  constructor(
    readonly versions: ReadonlyMap<string, number>,
    private readonly room: { floorsOf(versions: Map<string, number>): Floors | null },
  ) {}

  without(streamId: string): Floors | null {
    let f = this.next.get(streamId);
    if (f === undefined) {
      const rest = new Map(this.versions);
      rest.delete(streamId);
      f = this.room.floorsOf(rest);
      this.next.set(streamId, f);
    }
    return f;
  }
}

export interface RoomStats {
  rooms: number;
  members: number;
  delivered: number;
  duplicatesDropped: number;
  gaps: number;
  /** Fast copies (a service's, right after its commit) delivered ahead of the relay's copy. */
  fastDelivered: number;
  /** Fast copies not taken: not the next version of a stream the room has heard (the relay's copy is delivered instead). */
  fastSkipped: number;
  /** Snapshot reads a join started for its room. */
  snapshotReads: number;
  /** Joins served by a read another join of the room had started (in flight or just settled). */
  snapshotReadsShared: number;
}

/**
 * How the joins of a room share one snapshot read: a read is offered to the room's later joins while
 * it is in flight and for `ms` after it settled, as long as the projections that reached the room
 * since it was sent stay at most `maxLog` (each joiner is given those, as if it had subscribed when
 * the read was sent). `ms` 0 shares only reads in flight.
 */
export interface SnapshotSharing {
  ms: number;
  maxLog: number;
}

export const DEFAULT_SNAPSHOT_SHARING: SnapshotSharing = { ms: 0, maxLog: 500 };

/** One snapshot read of a room and what reached the room since it was sent. */
interface SharedRead {
  result: Promise<RoomSnapshotResult>;
  /** Projections that reached the room since the read was sent, in order. */
  log: Delivery[];
  /** performance.now() when it settled; null while in flight. */
  settledAt: number | null;
  /** Still offered to new joiners (false once it failed or its log outgrew the bound). */
  open: boolean;
}

const decoder = new TextDecoder();

/**
 * Streams whose last version a room remembers, the most recently published first: enough for the
 * duplicates a relay produces (it publishes again what it published in the last moments before a
 * crash), bounded however many streams come and go (one per presence session).
 */
export const VERSIONS_PER_ROOM = 1_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `Broadcast` from `@siteflow/contracts`, checked by hand (this runs for every projection of every room). */
function asBroadcast(v: unknown): Broadcast | null | undefined {
  if (v === null) return null;
  if (!isObject(v) || typeof v.event !== 'string' || v.event.length === 0 || !isObject(v.payload)) return undefined;
  if (v.exclude_connection_id !== undefined && typeof v.exclude_connection_id !== 'string') return undefined;
  const from = v.payload_from_data;
  if (from !== undefined && (!isObject(from) || !Object.values(from).every((k) => typeof k === 'string'))) return undefined;
  return v as Broadcast;
}

/**
 * The broadcast with its payload whole: the fields it takes from the event's data added
 * (`Broadcast.payload_from_data`). Undefined when a field it names is not in the data.
 */
function withDataFields(b: Broadcast, data: Record<string, unknown> | null): Broadcast | undefined {
  const from = b.payload_from_data;
  if (from === undefined) return b;
  if (data === null) return undefined;
  const payload = { ...b.payload };
  for (const [key, dataKey] of Object.entries(from)) {
    if (!Object.hasOwn(data, dataKey)) return undefined;
    payload[key] = data[dataKey];
  }
  return { event: b.event, payload, ...(b.exclude_connection_id === undefined ? {} : { exclude_connection_id: b.exclude_connection_id }) };
}

/**
 * The fields of a `PublishedEvent` the gateway uses, checked by hand instead of a zod parse of the
 * whole event: this runs for every stored event of every joined project, most of which carry no
 * broadcast and are dropped here. Undefined when malformed.
 */
function asPublished(
  v: unknown,
): { stream_id: string; version: number; type: string; data: Record<string, unknown>; broadcast: Broadcast | null } | undefined {
  if (!isObject(v)) return undefined;
  const { stream_id, version, type, data } = v;
  if (typeof stream_id !== 'string' || typeof version !== 'number' || !Number.isInteger(version) || version < 1) return undefined;
  if (typeof type !== 'string' || !isObject(data)) return undefined;
  const stored = asBroadcast(v.broadcast);
  if (stored === undefined) return undefined;
  const broadcast = stored === null ? null : withDataFields(stored, data);
  if (broadcast === undefined) return undefined;
  return { stream_id, version, type, data, broadcast };
}

/**
 * One topic on this gateway: a NATS subscription to its projections, opened on the first join and
 * closed on the last leave, and the sockets joined to it. Each projection is parsed and serialised
 * once, then written to every member.
 */
export class Room {
  readonly members = new Map<string, Member>();
  /**
   * Highest version seen per stream, the least recently published first (at most
   * VERSIONS_PER_ROOM): duplicates (the relay's copy of what a fast copy delivered, relay retries)
   * are dropped here.
   */
  private readonly versions = new Map<string, number>();
  private readonly sub: Subscription;
  /** The room's latest snapshot read, while later joins may still share it. */
  private shared: SharedRead | null = null;
  /** The floor sets its members hold, by content (`floorsOf`). */
  private readonly floorSets = new Map<string, Floors>();

  constructor(
    readonly topic: string,
    subject: string,
    nats: NatsConnection,
    private readonly logger: Logger,
    private readonly stats: RoomStats,
    private readonly sharing: SnapshotSharing = DEFAULT_SNAPSHOT_SHARING,
  ) {
    this.sub = nats.subscribe(subject, {
      callback: (err, msg) => (err ? this.logger.warn({ err, topic }, 'subscription error') : this.onMessage(msg)),
    });
  }

  /** Adds a socket whose join is in progress: projections are buffered until `activate`. */
  addJoining(client: RoomClient, joinRef: string): void {
    this.members.set(client.id, { client, joinRef, buffer: [], floors: null });
  }

  /**
   * Adds a socket whose join is in progress and gives it the room's snapshot: the read another join
   * of the room already started, if it is still offered (in flight, or settled less than
   * `sharing.ms` ago with a short log), else a new `read()`, sent after the socket is added
   * (subscribe before snapshot). A joiner that shares a read is given, as its buffer, every
   * projection that reached the room since that read was sent, so what it sees is exactly what it
   * would have seen had it subscribed then: `activate` drops what the snapshot already contains by
   * the same version floors. A member removal among those projections is told to the joiner, as it
   * would have been. Many joins of one room (a gateway restart brings them all back at once) cost one
   * read of each service instead of one each. `shared` says the read was made for another join (so
   * what in it is that user's own, the chat's unread count, is not this joiner's).
   */
  addJoiningWithSnapshot(
    client: RoomClient,
    joinRef: string,
    read: () => Promise<RoomSnapshotResult>,
  ): { result: Promise<RoomSnapshotResult>; shared: boolean } {
    const shared = this.offeredRead(performance.now());
    if (shared) {
      this.members.set(client.id, { client, joinRef, buffer: [...shared.log], floors: null });
      for (const d of shared.log) if (d.removedUserId !== undefined) client.removedFromProject?.(d.removedUserId, this.topic, joinRef);
      this.stats.snapshotReadsShared++;
      return { result: shared.result, shared: true };
    }
    this.addJoining(client, joinRef);
    const fresh: SharedRead = { result: read(), log: [], settledAt: null, open: true };
    this.stats.snapshotReads++;
    this.shared = fresh;
    fresh.result.then(
      (r) => {
        fresh.settledAt = performance.now();
        if (!r.ok) fresh.open = false;
      },
      () => (fresh.open = false),
    );
    return { result: fresh.result, shared: false };
  }

  /** The read a join may share now, if any; forgets one that may no longer be shared. */
  private offeredRead(now: number): SharedRead | null {
    const s = this.shared;
    if (s === null) return null;
    if (s.open && (s.settledAt === null || now - s.settledAt <= this.sharing.ms)) return s;
    this.shared = null;
    return null;
  }

  /**
   * Completes a join after its snapshot reply was sent: flushes buffered projections the snapshot
   * does not contain. Returns false if the join was superseded or removed meanwhile.
   */
  activate(clientId: string, joinRef: string, snapshotVersions: Record<string, number>): boolean {
    const m = this.members.get(clientId);
    if (!m || m.joinRef !== joinRef || m.buffer === null) return false;
    const floors = new Map(Object.entries(snapshotVersions));
    const buffered = m.buffer;
    m.buffer = null;
    // This member's own while its buffer is flushed; shared once what is left of them is known.
    m.floors = floors.size > 0 ? new Floors(floors, this) : null;
    for (const d of buffered) this.deliverTo(m, d);
    // A floor the room has seen its stream reach is enforced by the room's own versions from now
    // on (a lower version is a duplicate for everyone): only the others are kept. A snapshot names
    // every stream of the room (one per presence session), most of them long quiet.
    if (m.floors !== null) {
      const kept = new Map<string, number>();
      for (const [streamId, floor] of m.floors.versions) if ((this.versions.get(streamId) ?? 0) < floor) kept.set(streamId, floor);
      m.floors = this.floorsOf(kept);
    }
    return true;
  }

  /** The room's floor set with exactly these floors (null when none): one object for every member that has them. */
  floorsOf(versions: Map<string, number>): Floors | null {
    if (versions.size === 0) return null;
    const key = [...versions]
      .map(([streamId, floor]) => `${streamId}\u0000${floor}`)
      .sort()
      .join('\u0001');
    let floors = this.floorSets.get(key);
    if (floors === undefined) {
      if (this.floorSets.size >= FLOOR_SETS_PER_ROOM) this.floorSets.clear();
      floors = new Floors(versions, this);
      this.floorSets.set(key, floors);
    }
    return floors;
  }

  remove(clientId: string, joinRef?: string): boolean {
    const m = this.members.get(clientId);
    if (!m || (joinRef !== undefined && m.joinRef !== joinRef)) return false;
    this.members.delete(clientId);
    return true;
  }

  joinRefOf(clientId: string): string | undefined {
    return this.members.get(clientId)?.joinRef;
  }

  close(): void {
    this.sub.unsubscribe();
    this.members.clear();
    this.shared = null;
    this.floorSets.clear();
  }

  private onMessage(msg: Msg): void {
    // A projection that carries a trace (the relay's publish span) is delivered as a span of that
    // trace: one chat message is one trace from the sender's socket to every receiver's.
    const parent = tracingEnabled() ? contextFromHeaders(msg.headers) : undefined;
    if (!parent) {
      this.fanOut(msg);
      return;
    }
    const before = this.stats.delivered;
    inSpanSync(
      `fan-out ${this.topic.split(':')[0] ?? 'topic'}`,
      {
        kind: SpanKind.CONSUMER,
        parent,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': msg.subject,
          'siteflow.topic': this.topic,
          'siteflow.members': this.members.size,
        },
      },
      (span) => {
        this.fanOut(msg);
        span?.setAttribute('siteflow.delivered', this.stats.delivered - before);
      },
    );
  }

  private fanOut(msg: Msg): void {
    const delivery = this.toDelivery(msg);
    if (!delivery) return;
    if (this.shared !== null) {
      const shared = this.offeredRead(performance.now());
      if (shared) {
        shared.log.push(delivery);
        if (shared.log.length > this.sharing.maxLog) shared.open = false;
      }
    }
    for (const m of this.members.values()) this.deliverTo(m, delivery);
    const removed = delivery.removedUserId;
    if (removed !== undefined) for (const m of [...this.members.values()]) m.client.removedFromProject?.(removed, this.topic, m.joinRef);
  }

  private deliverTo(m: Member, d: Delivery): void {
    if (m.buffer !== null) {
      m.buffer.push(d);
      return;
    }
    if (d.exclude !== undefined && d.exclude === m.client.id) return;
    if (m.floors !== null && d.streamId !== null) {
      const floor = m.floors.versions.get(d.streamId);
      if (floor !== undefined) {
        if (d.version <= floor) return;
        m.floors = m.floors.without(d.streamId);
      }
    }
    if (d.frame === null) return;
    this.stats.delivered++;
    m.client.send(d.frame);
  }

  /** Parses a projection once; never throws (a bad message is logged and dropped). */
  private toDelivery(msg: Msg): Delivery | null {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(msg.data));
    } catch {
      this.logger.warn({ subject: msg.subject }, 'projection is not JSON');
      return null;
    }
    const kind = msg.subject.split('.')[2];
    if (kind === 'eph') {
      const stored = isObject(json) ? asBroadcast(json.broadcast) : undefined;
      // An ephemeral message has no data to fill a payload from.
      const broadcast = stored ? withDataFields(stored, null) : undefined;
      if (!broadcast) {
        this.logger.warn({ subject: msg.subject }, 'malformed ephemeral projection');
        return null;
      }
      return this.frameFor(null, 0, broadcast);
    }
    const e = asPublished(json);
    if (!e) {
      this.logger.warn({ subject: msg.subject }, 'malformed projection');
      return null;
    }
    const { stream_id, version, broadcast } = e;
    const last = this.versions.get(stream_id);
    if (kind === 'now') {
      // A service's fast copy, published at its commit (docs/consistency.md, rule 10): taken only as
      // the very next version of a stream this room has heard, so it can never put a later version
      // ahead of an earlier one still on its way (from the relay, or another instance's fast copy).
      // Anything else waits for the relay's copy, which is in order.
      if (last === undefined || version !== last + 1) {
        this.stats.fastSkipped++;
        return null;
      }
      this.stats.fastDelivered++;
    } else if (last !== undefined && version <= last) {
      this.stats.duplicatesDropped++;
      return null;
    }
    if (last !== undefined && version > last + 1) {
      // Not every event of a stream reaches every topic (some go to a user's topic), so a jump is
      // only suspicious; counted and logged for operators.
      this.stats.gaps++;
      this.logger.debug({ topic: this.topic, stream_id, last, version }, 'version gap');
    }
    // Re-inserted, so the map stays in order of last publication and the oldest stream goes first.
    this.versions.delete(stream_id);
    this.versions.set(stream_id, version);
    if (this.versions.size > VERSIONS_PER_ROOM) {
      const oldest = this.versions.keys().next();
      if (!oldest.done) this.versions.delete(oldest.value);
    }
    const removedUserId = removedMember(e);
    if (removedUserId !== undefined)
      return {
        ...(broadcast ? this.frameFor(stream_id, version, broadcast) : { streamId: stream_id, version, frame: null, exclude: undefined }),
        removedUserId,
      };
    return broadcast ? this.frameFor(stream_id, version, broadcast) : null;
  }

  private frameFor(streamId: string | null, version: number, b: Broadcast): Delivery {
    // Serialised and UTF-8 encoded once per topic: writing a string to N sockets would encode it N times.
    const frame = Buffer.from(encodeFrame([null, null, this.topic, b.event, b.payload]));
    return { streamId, version, frame, exclude: b.exclude_connection_id };
  }
}

/** Every counter at zero. */
export function emptyRoomStats(): RoomStats {
  return {
    rooms: 0,
    members: 0,
    delivered: 0,
    duplicatesDropped: 0,
    gaps: 0,
    fastDelivered: 0,
    fastSkipped: 0,
    snapshotReads: 0,
    snapshotReadsShared: 0,
  };
}

/** All rooms of this gateway, by topic. */
export class Rooms {
  private readonly rooms = new Map<string, Room>();
  readonly stats: RoomStats = emptyRoomStats();

  /** The own unread counts of joins that share a room's read, asked of chat together. */
  readonly ownUnread: OwnUnreadReads;
  /** The membership reads of a room's joins, asked of documents together. */
  readonly membership: MembershipReads;

  constructor(
    private readonly nats: NatsConnection,
    private readonly logger: Logger,
    private readonly sharing: SnapshotSharing = DEFAULT_SNAPSHOT_SHARING,
  ) {
    this.ownUnread = new OwnUnreadReads(nats);
    this.membership = new MembershipReads(nats);
  }

  /** The room of a topic, subscribing to its projections if this is the first member. */
  acquire(topic: string, subject: string): Room {
    let room = this.rooms.get(topic);
    if (!room) {
      room = new Room(topic, subject, this.nats, this.logger, this.stats, this.sharing);
      this.rooms.set(topic, room);
    }
    return room;
  }

  get(topic: string): Room | undefined {
    return this.rooms.get(topic);
  }

  /** Removes a member; the last one out closes the room's subscription. */
  leave(topic: string, clientId: string, joinRef?: string): boolean {
    const room = this.rooms.get(topic);
    if (!room) return false;
    const removed = room.remove(clientId, joinRef);
    if (room.members.size === 0) {
      room.close();
      this.rooms.delete(topic);
    }
    return removed;
  }

  /** Empties every room (NATS reconnected: what was missed is unknown). Returns who was in them. */
  evictAll(): Array<{ topic: string; clientId: string; joinRef: string }> {
    const evicted: Array<{ topic: string; clientId: string; joinRef: string }> = [];
    for (const [topic, room] of this.rooms) {
      for (const [clientId, m] of room.members) evicted.push({ topic, clientId, joinRef: m.joinRef });
      room.close();
    }
    this.rooms.clear();
    return evicted;
  }

  snapshotStats(): RoomStats {
    let members = 0;
    for (const r of this.rooms.values()) members += r.members.size;
    return { ...this.stats, rooms: this.rooms.size, members };
  }
}
