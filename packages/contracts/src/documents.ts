import { z } from 'zod';
import { DOCUMENT_TYPES, UNLOCK_REASONS } from './constants.js';
import { DocumentId, IsoTime, ProjectId, UserId, VersionNumber } from './ids.js';

/** The 9 planning documents every project has (docs/architecture.md, "The room"). */
export const DocumentType = z.enum(DOCUMENT_TYPES);
export type DocumentType = z.infer<typeof DocumentType>;

export const LockInfo = z.object({
  user_id: UserId,
  username: z.string(),
  connection_id: z.string(),
  locked_at: IsoTime,
  expires_at: IsoTime,
});
export type LockInfo = z.infer<typeof LockInfo>;

/** A document's metadata as in the room snapshot (content is fetched with `document:get`). */
export const DocumentMeta = z.object({
  id: DocumentId,
  project_id: ProjectId,
  document_type: DocumentType,
  title: z.string(),
  version: z.number().int().min(1),
  created_by: UserId.nullable(),
  last_edited_by: UserId.nullable(),
  created_at: IsoTime,
  updated_at: IsoTime,
  lock: LockInfo.nullable(),
});
export type DocumentMeta = z.infer<typeof DocumentMeta>;
export const DocumentWithContent = DocumentMeta.extend({ content: z.string() });
export type DocumentWithContent = z.infer<typeof DocumentWithContent>;

export const VersionSummary = z.object({
  version: z.number().int().min(1),
  saved_by: UserId.nullable(),
  saved_by_name: z.string().nullable(),
  saved_at: IsoTime,
  size: z.number().int().min(0),
});
export type VersionSummary = z.infer<typeof VersionSummary>;

// Client → server
const docRef = { document_id: DocumentId };
export const StartEditingPayload = z.strictObject({ ...docRef, take_over: z.boolean().optional() });
export const StopEditingPayload = z.strictObject(docRef);
/**
 * Content is bounded by UTF-8 bytes in the service (`payload_too_large`); the gateway's frame bound
 * for document events stops absurd frames early, so no character bound here would say it better.
 */
export const SavePayload = z.strictObject({
  ...docRef,
  content: z.string(),
  base_version: VersionNumber,
});
export const GetDocumentPayload = z.strictObject(docRef);
export const HistoryOfDocumentPayload = z.strictObject({
  ...docRef,
  before: VersionNumber.optional(),
  limit: z.number().int().min(1).max(100).optional(),
});
export const GetVersionPayload = z.strictObject({ ...docRef, version: VersionNumber });
export const RestorePayload = z.strictObject({ ...docRef, version: VersionNumber });
export const RequestEditPayload = z.strictObject({ ...docRef, message: z.string().max(500).optional() });
/** `document:heartbeat`: renews the lease of the caller's lock (the web client sends it every ~30 s while editing). */
export const HeartbeatPayload = z.strictObject(docRef);
export const ForceUnlockPayload = z.strictObject({ ...docRef, reason: z.string().max(500).optional() });

// Server → client
export const DocumentLockedBroadcast = z.object({
  document_id: DocumentId,
  user_id: UserId,
  username: z.string(),
  locked_at: IsoTime,
  expires_at: IsoTime,
});
export const UnlockReason = z.enum(UNLOCK_REASONS);
export const DocumentUnlockedBroadcast = z.object({ document_id: DocumentId, user_id: UserId, reason: UnlockReason });
export const DocumentUpdatedBroadcast = z.object({
  document_id: DocumentId,
  version: z.number().int().min(1),
  updated_by: z.string(),
  updated_by_id: UserId.optional(),
  updated_at: IsoTime,
  content: z.string(),
});
export const EditRequestedBroadcast = z.object({
  document_id: DocumentId,
  project_id: ProjectId,
  user_id: UserId,
  username: z.string(),
  message: z.string().optional(),
  requested_at: IsoTime,
});
export const LockRevokedBroadcast = z.object({
  document_id: DocumentId,
  project_id: ProjectId,
  by_user_id: UserId,
  by_username: z.string(),
  reason: z.string().optional(),
  revoked_at: IsoTime,
});

export const DocumentsSnapshot = z.object({ documents: z.array(DocumentMeta) });
export type DocumentsSnapshot = z.infer<typeof DocumentsSnapshot>;

// Replies
export const StartEditingReply = z.object({ lock_acquired: z.literal(true), locked_at: IsoTime, expires_at: IsoTime });
export type StartEditingReply = z.infer<typeof StartEditingReply>;
export const StopEditingReply = z.object({ lock_released: z.boolean() });
export type StopEditingReply = z.infer<typeof StopEditingReply>;
export const HeartbeatReply = z.object({ lock_renewed: z.literal(true), expires_at: IsoTime });
export type HeartbeatReply = z.infer<typeof HeartbeatReply>;
/** `document:save` / `document:auto_save` / `document:restore`: the current version after the command. */
export const SaveReply = z.object({ document_id: DocumentId, version: z.number().int().min(1), saved: z.boolean(), updated_at: IsoTime });
export type SaveReply = z.infer<typeof SaveReply>;
export const HistoryOfDocumentReply = z.object({ versions: z.array(VersionSummary), has_more: z.boolean() });
export type HistoryOfDocumentReply = z.infer<typeof HistoryOfDocumentReply>;
export const DocumentVersion = VersionSummary.extend({
  document_id: DocumentId,
  content: z.string(),
  restored_from: z.number().int().min(1).nullable(),
});
export type DocumentVersion = z.infer<typeof DocumentVersion>;

// Domain events stored in the `documents` schema and published on `project.<pid>.ev.documents.<Type>`
// (other services consume the lock events: presence shows who edits what).
/** `LockAcquired`: broadcast as `document:locked`. */
export const DocumentLockAcquired = z.object({
  type: z.literal('LockAcquired'),
  data: z.object({
    document_id: DocumentId,
    project_id: ProjectId,
    user_id: UserId,
    username: z.string(),
    connection_id: z.string(),
    locked_at: IsoTime,
    expires_at: IsoTime,
  }),
});
/** `LockReleased`: broadcast as `document:unlocked`. A revocation also names who revoked it and why. */
export const DocumentLockReleased = z.object({
  type: z.literal('LockReleased'),
  data: z.object({
    document_id: DocumentId,
    project_id: ProjectId,
    user_id: UserId,
    connection_id: z.string(),
    reason: UnlockReason,
    released_at: IsoTime,
    by_user_id: UserId.optional(),
    by_username: z.string().optional(),
    note: z.string().optional(),
  }),
});
