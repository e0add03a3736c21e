import { z } from 'zod';
import * as chat from './chat.js';
import { DOCUMENT_MAX_BYTES } from './constants.js';
import * as checklist from './checklist.js';
import * as documents from './documents.js';
import * as project from './project.js';
import { PresenceDiff, PresenceState } from './presence.js';
import type { ServiceName } from './subjects.js';

/** How the gateway routes one client push: validate `payload`, then ask `service` on `subject`. */
export interface ClientEventRoute {
  payload: z.ZodType;
  service: ServiceName;
  subject: string;
  /** Upper bound of the whole frame for this event, in bytes (document saves are larger). */
  maxFrameBytes?: number;
}

const route = (payload: z.ZodType, service: ServiceName, subject: string, maxFrameBytes?: number): ClientEventRoute =>
  maxFrameBytes === undefined ? { payload, service, subject } : { payload, service, subject, maxFrameBytes };

/** A document frame carries up to 512 KiB of UTF-8 content, JSON-escaped: bound it at 4x + room. */
const DOCUMENT_FRAME_BYTES = DOCUMENT_MAX_BYTES * 4 + 4096;

/** Every event a client may push on `project:<id>` (docs/protocol.md, "Client events"). */
export const projectClientEvents = {
  'document:start_editing': route(documents.StartEditingPayload, 'documents', 'documents.lock.acquire'),
  'document:stop_editing': route(documents.StopEditingPayload, 'documents', 'documents.lock.release'),
  'document:save': route(documents.SavePayload, 'documents', 'documents.document.save', DOCUMENT_FRAME_BYTES),
  'document:auto_save': route(documents.SavePayload, 'documents', 'documents.document.auto_save', DOCUMENT_FRAME_BYTES),
  'document:get': route(documents.GetDocumentPayload, 'documents', 'documents.document.get'),
  'document:history': route(documents.HistoryOfDocumentPayload, 'documents', 'documents.version.list'),
  'document:get_version': route(documents.GetVersionPayload, 'documents', 'documents.version.get'),
  'document:restore': route(documents.RestorePayload, 'documents', 'documents.version.restore'),
  'document:request_edit': route(documents.RequestEditPayload, 'documents', 'documents.lock.request_edit'),
  'document:force_unlock': route(documents.ForceUnlockPayload, 'documents', 'documents.lock.force_release'),
  'document:heartbeat': route(documents.HeartbeatPayload, 'documents', 'documents.lock.renew'),
  'chat:message': route(chat.PostMessagePayload, 'chat', 'chat.message.post'),
  'chat:typing': route(chat.TypingPayload, 'chat', 'chat.typing.start'),
  'chat:stop_typing': route(chat.TypingPayload, 'chat', 'chat.typing.stop'),
  'chat:history': route(chat.HistoryPayload, 'chat', 'chat.message.history'),
  'chat:mark_read': route(chat.MarkReadPayload, 'chat', 'chat.read.mark'),
  'checklist:toggle': route(checklist.TogglePayload, 'checklist', 'checklist.item.toggle'),
  'checklist:add_item': route(checklist.AddItemPayload, 'checklist', 'checklist.item.add'),
  'checklist:edit_item': route(checklist.EditItemPayload, 'checklist', 'checklist.item.edit'),
  'checklist:reorder': route(checklist.ReorderPayload, 'checklist', 'checklist.item.reorder'),
  'checklist:remove_item': route(checklist.RemoveItemPayload, 'checklist', 'checklist.item.remove'),
  'project:set_status': route(project.SetProjectStatusPayload, 'documents', 'documents.project.set_status'),
  'project:update': route(project.UpdateProjectPayload, 'documents', 'documents.project.update'),
} as const satisfies Record<string, ClientEventRoute>;
export type ProjectClientEvent = keyof typeof projectClientEvents;
export type ClientPayload<E extends ProjectClientEvent> = z.infer<(typeof projectClientEvents)[E]['payload']>;

/** Every event the server pushes, with its payload schema (for typed clients and tests). */
export const serverEvents = {
  presence_state: PresenceState,
  presence_diff: PresenceDiff,
  'document:locked': documents.DocumentLockedBroadcast,
  'document:unlocked': documents.DocumentUnlockedBroadcast,
  'document:updated': documents.DocumentUpdatedBroadcast,
  'document:edit_requested': documents.EditRequestedBroadcast,
  'document:lock_revoked': documents.LockRevokedBroadcast,
  'chat:new_message': chat.NewMessageBroadcast,
  'chat:typing': chat.TypingBroadcast,
  'chat:unread': chat.UnreadBroadcast,
  'checklist:updated': checklist.ChecklistUpdatedBroadcast,
  'checklist:changed': checklist.ChecklistChangedBroadcast,
  'progress:updated': checklist.ProgressUpdatedBroadcast,
  'project:updated': project.ProjectUpdatedBroadcast,
  'project:status_change': project.ProjectStatusChangeBroadcast,
} as const;
export type ServerEvent = keyof typeof serverEvents;
export type ServerPayload<E extends ServerEvent> = z.infer<(typeof serverEvents)[E]>;

export function isProjectClientEvent(event: string): event is ProjectClientEvent {
  return Object.prototype.hasOwnProperty.call(projectClientEvents, event);
}
