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
  return { projectId: Number(m[1]), userId: Number(m[2]), connectionId: m[3]! };
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
export type LockChange =
  | { type: 'acquired'; documentId: number; at: string }
  | { type: 'released'; documentId: number };

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
  const { phx_ref_prev: _prev, ...rest } = meta;
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

/** A bucket entry as the sweep sees it. */
export interface Aged<V> {
  value: V;
  /** Server time of its last write (ms). */
  writtenAt: number;
}

/** A gateway is alive while its liveness key was written within the TTL. */
export function isAlive(liveness: { writtenAt: number } | undefined, now: number, ttlMs: number): boolean {
  return liveness !== undefined && now - liveness.writtenAt <= ttlMs;
}

/**
 * Connections the sweep evicts: those of a gateway that is not alive (its liveness key is stale or
 * gone), once the connection itself is older than the TTL (a gateway's first track writes its
 * liveness too, but the grace keeps a just-tracked connection of a just-started gateway in any
 * order of the watch). Entries without a gateway age by their own write time.
 */
export function evictable<T extends Aged<PresenceEntry>>(
  connections: Iterable<[string, T]>,
  liveness: (gatewayId: string) => Aged<GatewayLiveness> | undefined,
  now: number,
  ttlMs: number,
): Array<[string, T]> {
  const out: Array<[string, T]> = [];
  for (const [key, e] of connections) {
    if (now - e.writtenAt <= ttlMs) continue;
    const gateway = e.value.gateway_id;
    if (gateway !== undefined && isAlive(liveness(gateway), now, ttlMs)) continue;
    out.push([key, e]);
  }
  return out;
}

/**
 * Whether a gateway's refresh must ask it to track its connections again: presence holds no fresh
 * liveness for it, so the sweep may have evicted some of them. "Fresh" is stricter here than in
 * the sweep (`resyncAfter` < TTL) so that clock differences between presence instances cannot let
 * one evict while another answers "all is well".
 */
export function needsResync(liveness: { writtenAt: number } | undefined, now: number, ttlMs: number): boolean {
  return liveness === undefined || now - liveness.writtenAt > ttlMs * 0.8;
}

/**
 * Keys are not rewritten by refreshes, but the bucket's max_age removes any message older than it
 * (that is what clears delete markers): a connection key older than a third of max_age is
 * rewritten unchanged when its gateway refreshes, a few per refresh.
 */
export function dueForRewrite(writtenAt: number, now: number, maxAgeMs: number): boolean {
  return now - writtenAt > maxAgeMs / 3;
}
