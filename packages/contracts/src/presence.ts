import { z } from 'zod';
import { DocumentId, Role, UserId } from './ids.js';

/** One connection's presence meta (seed, section 3) plus Phoenix's `phx_ref`. */
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
