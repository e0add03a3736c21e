import { z } from 'zod';
import { DocumentId, IsoTime, ProjectId, UserId } from './ids.js';

/** The 9 planning documents every project has (seed, section 7). */
export const DocumentType = z.enum([
  'technical_spec',
  'design_system',
  'content_structure',
  'feature_list',
  'timeline',
  'budget',
  'risk_analysis',
  'success_metrics',
  'deployment_plan',
]);
export type DocumentType = z.infer<typeof DocumentType>;

/** Largest document content, in UTF-8 bytes. */
export const DOCUMENT_MAX_BYTES = 512 * 1024;

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

export const VersionSummary = z.object({
  version: z.number().int().min(1),
  saved_by: UserId.nullable(),
  saved_by_name: z.string().nullable(),
  saved_at: IsoTime,
  size: z.number().int().min(0),
});

// Client → server
const docRef = { document_id: DocumentId };
export const StartEditingPayload = z.strictObject({ ...docRef, take_over: z.boolean().optional() });
export const StopEditingPayload = z.strictObject(docRef);
/** Content is bounded by bytes in the service; this bound (characters) only stops absurd frames early. */
export const SavePayload = z.strictObject({
  ...docRef,
  content: z.string().max(DOCUMENT_MAX_BYTES),
  base_version: z.number().int().min(1),
});
export const GetDocumentPayload = z.strictObject(docRef);
export const HistoryOfDocumentPayload = z.strictObject({
  ...docRef,
  before: z.number().int().min(1).optional(),
  limit: z.number().int().min(1).max(100).optional(),
});
export const GetVersionPayload = z.strictObject({ ...docRef, version: z.number().int().min(1) });
export const RestorePayload = z.strictObject({ ...docRef, version: z.number().int().min(1) });
export const RequestEditPayload = z.strictObject({ ...docRef, message: z.string().max(500).optional() });
export const ForceUnlockPayload = z.strictObject({ ...docRef, reason: z.string().max(500).optional() });

// Server → client
export const DocumentLockedBroadcast = z.object({
  document_id: DocumentId,
  user_id: UserId,
  username: z.string(),
  locked_at: IsoTime,
  expires_at: IsoTime,
});
export const UnlockReason = z.enum(['released', 'disconnected', 'expired', 'revoked']);
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
