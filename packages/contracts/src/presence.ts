import { z } from 'zod';
import { ConnectionId, DocumentId, ProjectId, Role, UserId } from './ids.js';
import { ReplyEnvelope } from './rpc.js';

/** One connection's presence meta (docs/presence-and-locks.md) plus Phoenix's `phx_ref`. */
export const PresenceMeta = z.object({
  phx_ref: z.string(),
  phx_ref_prev: z.string().optional(),
  user_id: UserId,
  username: z.string(),
  avatar_url: z.string(),
  role: Role,
  online_at: z.string(),
  current_document: DocumentId.nullable(),
  editing: z.boolean(),
  editing_since: z.string().nullable(),
});
export type PresenceMeta = z.infer<typeof PresenceMeta>;

/** Phoenix's `presence_state`: `{key: {metas: [...]}}`, key = user id as a string. */
export const PresenceState = z.record(z.string(), z.object({ metas: z.array(PresenceMeta) }));
export type PresenceState = z.infer<typeof PresenceState>;
/** Phoenix's `presence_diff`. */
export const PresenceDiff = z.object({ joins: PresenceState, leaves: PresenceState });
export type PresenceDiff = z.infer<typeof PresenceDiff>;

/** Offline members with when they were last seen, for the snapshot. */
export const MemberSeen = z.object({ user_id: UserId, last_seen_at: z.string().nullable() });

export const PresenceSnapshot = z.object({ state: PresenceState, last_seen: z.array(MemberSeen) });
export type PresenceSnapshot = z.infer<typeof PresenceSnapshot>;

/** Request/reply and event subjects of the presence service (gateway → presence). */
export const presenceSubjects = {
  /** Request `{ctx, payload: TrackPayload}` after a successful `project:` join; replies `TrackReply`. */
  track: 'presence.track',
  /**
   * Request `TrackManyRequest`: the tracks of one project that a gateway has ready in the same turn
   * (a room's joins admitted together); replies `TrackManyReply`, one envelope per track, in order,
   * each exactly what `presence.track` would have answered.
   */
  trackMany: 'presence.track_many',
  /** Request `{ctx, payload: {}}` on leave or socket close; replies `{removed}`. */
  untrack: 'presence.untrack',
  /**
   * ONE small request per gateway per interval (`PresenceRefresh`): the gateway's liveness. Its
   * connections' keys are not rewritten, so an idle room costs O(gateways) writes, not
   * O(connections). The reply (`RefreshReply`) asks the gateway to track its connections again
   * when presence had declared it dead (it stalled past the TTL) or lost its keys.
   */
  refresh: 'presence.refresh',
} as const;

/** Where the presence service publishes its diffs: ephemeral, `{broadcast: {event: 'presence_diff', …}}`. */
export const PRESENCE_DIFF_NAME = 'diff';

/** Defaults bounding a ghost's life to about TTL + sweep (configuration overrides all three). */
export const PRESENCE_DEFAULTS = { ttlMs: 10_000, refreshMs: 3_000, sweepMs: 2_000 } as const;

/** A gateway process (one boot of it): its connections live as long as it refreshes its liveness. */
export const GatewayId = z.string().min(1).max(200);

/**
 * The payload of `presence.track`: the gateway holding the connection (its liveness keeps the
 * connection), `retrack` when the gateway restores a connection presence lost.
 */
export const TrackPayload = z.object({ gateway_id: GatewayId, retrack: z.boolean().optional() });
export type TrackPayload = z.infer<typeof TrackPayload>;

/**
 * The reply to `presence.track`: the meta now in the room, which the gateway puts into the joiner's
 * `presence_state` (the join diff skips the joiner), and the ref of this connection's previous meta
 * when it rejoined (to drop from that state).
 */
export const TrackReply = z.object({ meta: PresenceMeta, replaced_phx_ref: z.string().nullable() });
export type TrackReply = z.infer<typeof TrackReply>;
/** At most this many tracks in one `presence.track_many` (a gateway's MAX_CONCURRENT_JOINS is 100 by default). */
export const TRACK_BATCH_MAX = 500;
/**
 * `presence.track_many`: each element is a `presence.track` request (`{ctx, payload: TrackPayload}`),
 * checked and run as that request would be, on its own: one that is refused or fails answers its
 * own error and takes no other with it.
 */
export const TrackManyRequest = z.object({ tracks: z.array(z.unknown()).min(1).max(TRACK_BATCH_MAX) });
export type TrackManyRequest = z.infer<typeof TrackManyRequest>;
/** One reply envelope per track, in the request's order. */
export const TrackManyReply = z.object({ replies: z.array(ReplyEnvelope) });
export type TrackManyReply = z.infer<typeof TrackManyReply>;
export const UntrackReply = z.object({ removed: z.boolean() });
export type UntrackReply = z.infer<typeof UntrackReply>;

/** The liveness a gateway sends (one request) on `presence.refresh` every PRESENCE_REFRESH_MS. */
export const PresenceRefresh = z.object({
  gateway_id: GatewayId,
  /** How many connections the gateway tracks (for operators; compared with what presence holds). */
  connections: z.number().int().min(0),
  /**
   * Every connection the gateway tracks, as `<project_id>/<connection_id>`: sent when presence held
   * more of its connections than it has for two refreshes in a row. Presence then removes the
   * gateway's other keys (a track it finished after the gateway gave up on it and untracked).
   */
  keys: z.array(z.string().max(200)).max(200_000).optional(),
});
export type PresenceRefresh = z.infer<typeof PresenceRefresh>;
/**
 * `resync`: presence did not hold this gateway as alive (it had stalled past the TTL, so its
 * connections may have been evicted, or the bucket was lost): the gateway tracks every connection
 * again (`retrack`, a no-op for keys still there). `held`: connection keys presence holds for it.
 */
export const RefreshReply = z.object({ resync: z.boolean(), held: z.number().int().min(0) });
export type RefreshReply = z.infer<typeof RefreshReply>;

/** Stored in the presence schema: a connection joined a project's room. */
export const SessionJoinedData = z.object({
  connection_id: ConnectionId,
  user_id: UserId,
  project_id: ProjectId,
  joined_at: z.string(),
});
/** Stored: the gateway said the connection left (phx_leave or socket closed). */
export const SessionLeftData = z.object({ connection_id: ConnectionId, user_id: UserId, project_id: ProjectId, left_at: z.string() });
/**
 * Stored and published on `project.<pid>.ev.presence.ConnectionEvicted`: the sweep removed a
 * connection not refreshed within the TTL (crashed gateway). Documents releases its locks.
 */
export const ConnectionEvictedData = z.object({
  connection_id: ConnectionId,
  user_id: UserId,
  project_id: ProjectId,
  evicted_at: z.string(),
});
export type ConnectionEvictedData = z.infer<typeof ConnectionEvictedData>;

/** What presence reads of documents' `LockAcquired` (only the fields it needs). */
export const PresenceLockAcquired = z.object({
  document_id: DocumentId,
  project_id: ProjectId,
  user_id: UserId,
  connection_id: ConnectionId,
  locked_at: z.string(),
});
/** What presence reads of documents' `LockReleased`. */
export const PresenceLockReleased = z.object({
  document_id: DocumentId,
  project_id: ProjectId,
  user_id: UserId,
  connection_id: ConnectionId,
  reason: z.enum(['released', 'disconnected', 'expired', 'revoked']),
});
