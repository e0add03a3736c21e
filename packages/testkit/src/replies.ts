import type { z } from 'zod';
import type {
  AddItemPayload,
  ChecklistReply,
  DocumentVersion,
  DocumentWithContent,
  EditItemPayload,
  ErrorCode,
  ForceUnlockPayload,
  GetDocumentPayload,
  GetVersionPayload,
  HeartbeatPayload,
  HeartbeatReply,
  HistoryOfDocumentPayload,
  HistoryOfDocumentReply,
  HistoryPayload,
  HistoryReply,
  MarkReadPayload,
  MarkReadReply,
  PostMessagePayload,
  PostMessageReply,
  ProjectClientEvent,
  RemoveItemPayload,
  ReorderPayload,
  RequestEditPayload,
  RestorePayload,
  SavePayload,
  SaveReply,
  SetProjectStatusPayload,
  StartEditingPayload,
  StartEditingReply,
  StopEditingPayload,
  StopEditingReply,
  TogglePayload,
  ToggleReply,
  TypingPayload,
  TypingReply,
  UpdateProjectPayload,
} from '@siteflow/contracts';

/** The payload of every push on `project:<id>`, from the contracts' schemas (what the gateway validates). */
export interface KnownPushPayloads {
  'document:start_editing': z.input<typeof StartEditingPayload>;
  'document:stop_editing': z.input<typeof StopEditingPayload>;
  'document:save': z.input<typeof SavePayload>;
  'document:auto_save': z.input<typeof SavePayload>;
  'document:get': z.input<typeof GetDocumentPayload>;
  'document:history': z.input<typeof HistoryOfDocumentPayload>;
  'document:get_version': z.input<typeof GetVersionPayload>;
  'document:restore': z.input<typeof RestorePayload>;
  'document:request_edit': z.input<typeof RequestEditPayload>;
  'document:force_unlock': z.input<typeof ForceUnlockPayload>;
  'document:heartbeat': z.input<typeof HeartbeatPayload>;
  'chat:message': z.input<typeof PostMessagePayload>;
  'chat:typing': z.input<typeof TypingPayload>;
  'chat:stop_typing': z.input<typeof TypingPayload>;
  'chat:history': z.input<typeof HistoryPayload>;
  'chat:mark_read': z.input<typeof MarkReadPayload>;
  'checklist:toggle': z.input<typeof TogglePayload>;
  'checklist:add_item': z.input<typeof AddItemPayload>;
  'checklist:edit_item': z.input<typeof EditItemPayload>;
  'checklist:reorder': z.input<typeof ReorderPayload>;
  'checklist:remove_item': z.input<typeof RemoveItemPayload>;
  'project:set_status': z.input<typeof SetProjectStatusPayload>;
  'project:update': z.input<typeof UpdateProjectPayload>;
}

/** The `ok` reply of each push whose reply the contracts describe; others are `unknown`. */
export interface KnownPushReplies {
  'document:start_editing': z.infer<typeof StartEditingReply>;
  'document:stop_editing': z.infer<typeof StopEditingReply>;
  'document:heartbeat': z.infer<typeof HeartbeatReply>;
  'document:save': z.infer<typeof SaveReply>;
  'document:auto_save': z.infer<typeof SaveReply>;
  'document:history': z.infer<typeof HistoryOfDocumentReply>;
  'document:get': z.infer<typeof DocumentWithContent>;
  'document:get_version': z.infer<typeof DocumentVersion>;
  'chat:message': z.infer<typeof PostMessageReply>;
  'chat:history': z.infer<typeof HistoryReply>;
  'chat:mark_read': z.infer<typeof MarkReadReply>;
  'chat:typing': z.infer<typeof TypingReply>;
  'chat:stop_typing': z.infer<typeof TypingReply>;
  'checklist:toggle': z.infer<typeof ToggleReply>;
  'checklist:add_item': z.infer<typeof ChecklistReply>;
  'checklist:edit_item': z.infer<typeof ChecklistReply>;
  'checklist:reorder': z.infer<typeof ChecklistReply>;
  'checklist:remove_item': z.infer<typeof ChecklistReply>;
}

/** Fails to compile when the contracts gain a client event this kit does not type yet. */
type Uncovered = Exclude<ProjectClientEvent, keyof KnownPushPayloads>;
export const everyClientEventTyped: [Uncovered] extends [never] ? true : Uncovered = true;

export type PushReply<E extends ProjectClientEvent> = E extends keyof KnownPushReplies ? KnownPushReplies[E] : unknown;

/** A push's payload: the contracts' payload, optionally with the client's `idempotency_key` (README "Architecture"). */
export type PushPayload<E extends ProjectClientEvent> = (E extends keyof KnownPushPayloads
  ? KnownPushPayloads[E]
  : Record<string, unknown>) & {
  idempotency_key?: string;
};

/** How a push was answered: `ok` with its reply, or `error` with a code from the contracts' closed set. */
export type PushOutcome<E extends ProjectClientEvent> =
  { status: 'ok'; response: PushReply<E> } | { status: 'error'; code: ErrorCode; reason: string; details?: Record<string, unknown> };
