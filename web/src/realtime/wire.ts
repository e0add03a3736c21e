import type {
  ChecklistReply,
  DocumentVersion,
  DocumentWithContent,
  HeartbeatReply,
  HistoryOfDocumentReply,
  MarkReadReply,
  SaveReply,
  StartEditingReply,
  StopEditingReply,
  ToggleReply,
  VersionSummary,
} from '@siteflow/contracts';
/**
 * What a zod 4 schema parses to (`z.infer`), read off the schema's type so the web app needs no
 * dependency on zod itself.
 */
type Infer<S extends { _zod: { output: unknown } }> = S['_zod']['output'];

/**
 * Reply payloads, inferred from the contracts' schemas at compile time only: `import type` keeps
 * zod and the schemas out of the bundle while the compiler still follows every contract change.
 */
export type DocumentContent = Infer<typeof DocumentWithContent>;
export type StartEditingReplyData = Infer<typeof StartEditingReply>;
export type StopEditingReplyData = Infer<typeof StopEditingReply>;
export type HeartbeatReplyData = Infer<typeof HeartbeatReply>;
export type SaveReplyData = Infer<typeof SaveReply>;
export type HistoryOfDocumentReplyData = Infer<typeof HistoryOfDocumentReply>;
export type VersionSummaryData = Infer<typeof VersionSummary>;
export type DocumentVersionData = Infer<typeof DocumentVersion>;
export type ToggleReplyData = Infer<typeof ToggleReply>;
export type ChecklistSnapshotData = Infer<typeof ChecklistReply>;
export type MarkReadReplyData = Infer<typeof MarkReadReply>;
