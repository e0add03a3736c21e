import { createHash, randomBytes } from 'node:crypto';
import type { Actor, PresenceDiff, PresenceMeta, PresenceState } from '@siteflow/contracts';

/**
 * Pure rules of a room's presence: how a connection is keyed, what its meta is, and the Phoenix
 * diffs of a join, a leave and an update. Kept free of NATS so they are tested with fixtures.
 */

/**
 * What the bucket holds per connection: the meta clients see, the session it belongs to and the
 * gateway holding it (whose liveness keeps it; entries written before gateways had liveness keys
 * have none and age by their own write time).
 */
export interface PresenceEntry {
  session_id: string;
  meta: PresenceMeta;
  gateway_id?: string;
}

/** What the bucket holds per gateway: rewritten once per refresh interval, its connections are not. */
export interface GatewayLiveness {
  gateway_id: string;
  /**
   * Written by the sweep that declared the gateway dead, as a compare-and-set on the liveness it
   * found stale: its connections are evicted only while the key still holds that write, so a
   * refresh or a track (which rewrite the key) stops the eviction at once.
   */
  dead?: true;
}

/** The liveness key of a gateway: `g.<hash>` (gateway ids may hold characters keys may not). */
export function gatewayKey(gatewayId: string): string {
  return `g.${createHash('sha256').update(gatewayId).digest('base64url').slice(0, 32)}`;
}

export function isGatewayKey(key: string): boolean {
  return key.startsWith('g.');
}

export interface ConnectionKey {
  projectId: number;
  userId: number;
  connectionId: string;
}

/** KV keys allow `[-/_=.a-zA-Z0-9]`; the gateway mints UUIDs, anything else is refused. */
const CONNECTION_ID = /^[-_=a-zA-Z0-9]{1,64}$/;
const KEY = /^p([1-9][0-9]*)\.u([1-9][0-9]*)\.c([-_=a-zA-Z0-9]{1,64})$/;

export function isKeyableConnectionId(id: string): boolean {
  return CONNECTION_ID.test(id);
}

export function presenceKey(k: ConnectionKey): string {
  return `p${k.projectId}.u${k.userId}.c${k.connectionId}`;
}

export function parsePresenceKey(key: string): ConnectionKey | null {
  const m = KEY.exec(key);
  if (!m) return null;
  const [, project, user, connection] = m;
  if (connection === undefined) return null;
  return { projectId: Number(project), userId: Number(user), connectionId: connection };
}

/** Key prefix of one project's connections (`p7.`), for scans of the room. */
export function projectKeyPrefix(projectId: number): string {
  return `p${projectId}.`;
}

/** Unique per meta version (Phoenix compares refs to tell metas apart). */
export function newPhxRef(): string {
  return randomBytes(9).toString('base64url');
}

/** The meta of a connection that just joined: online, not editing. */
export function joinedMeta(actor: Pick<Actor, 'user_id' | 'username' | 'avatar_url' | 'role'>, now: Date, phxRef: string): PresenceMeta {
  return {
    phx_ref: phxRef,
    user_id: actor.user_id,
    username: actor.username,
    avatar_url: actor.avatar_url,
    role: actor.role,
    online_at: now.toISOString(),
    current_document: null,
    editing: false,
    editing_since: null,
  };
}

/** A lock change of documents, as it concerns one connection's meta. */
export type LockChange = { type: 'acquired'; documentId: number; at: string } | { type: 'released'; documentId: number };

/**
 * The meta after a lock change, or null when nothing visible changes (a release of a document the
 * meta does not show as edited, or an acquire it already shows), so a no-op is never broadcast.
 */
export function metaAfterLock(meta: PresenceMeta, change: LockChange, phxRef: string): PresenceMeta | null {
  if (change.type === 'acquired') {
    if (meta.editing && meta.current_document === change.documentId) return null;
    return { ...withoutPrev(meta), phx_ref: phxRef, editing: true, current_document: change.documentId, editing_since: change.at };
  }
  if (meta.current_document !== change.documentId) return null;
  return { ...withoutPrev(meta), phx_ref: phxRef, editing: false, current_document: null, editing_since: null };
}

function withoutPrev(meta: PresenceMeta): PresenceMeta {
  const rest = { ...meta };
  delete rest.phx_ref_prev;
  return rest;
}

const one = (meta: PresenceMeta): PresenceState => ({ [String(meta.user_id)]: { metas: [meta] } });

export function joinDiff(meta: PresenceMeta): PresenceDiff {
  return { joins: one(meta), leaves: {} };
}

export function leaveDiff(meta: PresenceMeta): PresenceDiff {
  return { joins: {}, leaves: one(meta) };
}

/** Phoenix's update: the old meta leaves, the new one joins carrying `phx_ref_prev`. */
export function updateDiff(before: PresenceMeta, after: PresenceMeta): PresenceDiff {
  return { joins: one({ ...after, phx_ref_prev: before.phx_ref }), leaves: one(before) };
}

/** Phoenix's `presence_state` of a set of metas: key = user id, one meta per connection. */
export function presenceStateOf(metas: Iterable<PresenceMeta>): PresenceState {
  const state: PresenceState = {};
  for (const meta of metas) {
    const key = String(meta.user_id);
    (state[key] ??= { metas: [] }).metas.push(meta);
  }
  for (const entry of Object.values(state)) entry.metas.sort((a, b) => a.online_at.localeCompare(b.online_at));
  return state;
}

/** A bucket entry as one presence instance saw it. */
export interface Observed {
  /** When this instance saw the write, on its own monotonic clock (ms). */
  seenAt: number;
}

/**
 * A gateway is alive while it is not declared dead and this instance saw its liveness written
 * within the TTL. Ages are taken on the local clock from when the write was seen, never by
 * comparing the server's write time with the local clock: skew between hosts cannot age a key,
 * and a late delivery only makes it look younger.
 */
export function isAlive(liveness: (Observed & { value: GatewayLiveness }) | undefined, now: number, ttlMs: number): boolean {
  return liveness !== undefined && liveness.value.dead !== true && now - liveness.seenAt <= ttlMs;
}

/**
 * What the sweep does about one gateway that holds connections: leave it (alive, or not silent
 * long enough), declare it dead (a compare-and-set on its liveness), or evict its connections
 * (it is declared dead already, by this instance or another one). A gateway without any liveness
 * (lost) is declared dead once this instance has seen it missing for a TTL.
 */
export type GatewayVerdict = 'alive' | 'declare_dead' | 'evict';

export function gatewayVerdict(
  liveness: (Observed & { value: GatewayLiveness }) | undefined,
  missingSince: number,
  now: number,
  ttlMs: number,
): GatewayVerdict {
  if (liveness === undefined) return now - missingSince > ttlMs ? 'declare_dead' : 'alive';
  if (liveness.value.dead === true) return 'evict';
  return now - liveness.seenAt > ttlMs ? 'declare_dead' : 'alive';
}

/** Connections without a gateway (written before gateways had liveness keys) age by their own write. */
export function evictableWithoutGateway<T extends Observed>(
  connections: Iterable<[string, T]>,
  now: number,
  ttlMs: number,
): Array<[string, T]> {
  return [...connections].filter(([, e]) => now - e.seenAt > ttlMs);
}

/**
 * When the sweep may evict. A gateway proves it is alive by refreshing; while NATS did not answer
 * (stalled, disconnected) or presence itself did not run (booting, stopped, starved), no gateway
 * could, and liveness keys aged for nothing. So evictions wait until a full TTL has passed with
 * the view loaded and NATS answering since the last such interruption: every live gateway has
 * refreshed by then, and one that has not is really gone.
 */
export class EvictionGrace {
  /** No eviction before this (local monotonic ms). Until the view is loaded: never. */
  private heldUntil = Number.POSITIVE_INFINITY;
  private lastTick: number | undefined;
  private probeFailed = false;
  /** A round trip or a timer this much late is an interruption (well under TTL − refresh interval). */
  readonly stallMs: number;

  constructor(
    private readonly ttlMs: number,
    private readonly sweepMs: number,
  ) {
    this.stallMs = Math.max(100, Math.floor(ttlMs / 4));
  }

  /** The view holds every key that existed at boot. */
  viewLoaded(now: number): void {
    this.heldUntil = now + this.ttlMs;
  }

  /** Something cut presence off NATS (a disconnect, a reconnect): evictions wait a TTL from now. */
  interrupted(now: number): void {
    if (this.heldUntil !== Number.POSITIVE_INFINITY) this.heldUntil = Math.max(this.heldUntil, now + this.ttlMs);
  }

  /** The sweep timer fired; true when it fired so late that presence itself was not running. */
  ticked(now: number): boolean {
    const late = this.lastTick !== undefined && now - this.lastTick > this.sweepMs + this.stallMs;
    this.lastTick = now;
    if (late) this.interrupted(now);
    return late;
  }

  /** A probe round trip failed (timed out, disconnected): the next one that succeeds ends the interruption. */
  probeFailedNow(): void {
    this.probeFailed = true;
  }

  /** A probe round trip answered; true when it reveals an interruption (slow, or after failures). */
  probed(sentAt: number, answeredAt: number): boolean {
    const interrupted = this.probeFailed || answeredAt - sentAt > this.stallMs;
    this.probeFailed = false;
    if (interrupted) this.interrupted(answeredAt);
    return interrupted;
  }

  allows(now: number): boolean {
    return now >= this.heldUntil;
  }
}

/**
 * Keys are not rewritten by refreshes, but the bucket's max_age removes any message older than it
 * (that is what clears delete markers): a connection key older than a third of max_age is
 * rewritten unchanged when its gateway refreshes, a few per refresh.
 */
export function dueForRewrite(writtenAt: number, now: number, maxAgeMs: number): boolean {
  return now - writtenAt > maxAgeMs / 3;
}
