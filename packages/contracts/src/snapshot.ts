import { z } from 'zod';
import { ChatSnapshot } from './chat.js';
import { ChecklistSnapshot } from './checklist.js';
import { DocumentsSnapshot } from './documents.js';
import { PresenceSnapshot } from './presence.js';
import { ProjectInfo } from './project.js';

/**
 * A service's answer to `<service>.snapshot`: its part of the room plus the version of every
 * stream it read, so the gateway can drop projections the snapshot already contains.
 */
export function serviceSnapshot<T extends z.ZodType>(part: T) {
  return z.object({ part, versions: z.record(z.string(), z.number().int().min(0)) });
}
export type ServiceSnapshot<T> = { part: T; versions: Record<string, number> };

export const DocumentsServiceSnapshot = serviceSnapshot(DocumentsSnapshot.extend({ project: ProjectInfo.nullable() }));
export const ChatServiceSnapshot = serviceSnapshot(ChatSnapshot);
/**
 * `chat.snapshot` with `{unread_only: true}`: only the asker's unread count. A join that shares its
 * room's snapshot read with other joins (docs/protocol.md, Joining) asks this for itself, since the
 * count is the one part of the room that is the user's own.
 */
export const ChatSnapshotPayload = z.object({
  unread_only: z.boolean().optional(),
  /**
   * The unread counts of these members of the project, in one request: the joins of one room that
   * share its snapshot read, asked together by their gateway (at most UNREAD_BATCH_MAX). Users the
   * chat's members table does not have are left out of the answer.
   */
  unread_of: z.array(z.number().int().positive()).min(1).max(500).optional(),
});
export const UNREAD_BATCH_MAX = 500;
export const ChatUnreadServiceSnapshot = serviceSnapshot(ChatSnapshot.pick({ unread_count: true }));
/** `chat.snapshot` with `{unread_of: [user ids]}`: each member's count by user id (non-members absent). */
export const ChatUnreadManyServiceSnapshot = serviceSnapshot(z.object({ unread_counts: z.record(z.string(), z.number().int()) }));
export const ChecklistServiceSnapshot = serviceSnapshot(ChecklistSnapshot);
export const PresenceServiceSnapshot = serviceSnapshot(PresenceSnapshot);

/** The reply to `phx_join` on `project:<id>`: the whole room. `presence_state` follows it. */
export const RoomSnapshot = z.object({
  project: ProjectInfo.nullable(),
  documents: DocumentsSnapshot.shape.documents,
  checklist: ChecklistSnapshot,
  chat: ChatSnapshot,
  members_last_seen: PresenceSnapshot.shape.last_seen,
});
export type RoomSnapshot = z.infer<typeof RoomSnapshot>;
