import type {
  ChatMessage,
  ChecklistReply,
  HistoryReply,
  ProjectInfo,
  ProjectStatus,
  RoomSnapshot,
  ServerEvent,
  ServerPayload,
  ToggleReply,
} from '@siteflow/contracts';
import { chatLogOf, prependPage, receiveBroadcast, receiveOwnReply, type ChatLog } from '../chat/messages.js';
import { computeProgress } from '@siteflow/contracts/constants';
import { reduceChecklist, sortItems, type RoomChecklist } from '../checklist/checklistState.js';
import { reduceDocuments, type RoomDocument } from '../documents/documentsState.js';

/** The planning room as the client shows it: the join snapshot, kept current by broadcasts. */
export interface RoomState {
  project: ProjectInfo | null;
  documents: readonly RoomDocument[];
  checklist: RoomChecklist;
  chat: ChatLog & { has_more: boolean; unread_count: number };
  members_last_seen: RoomSnapshot['members_last_seen'];
  /** How many snapshots made this state: a new one means a (re)join, so views re-read what they show. */
  epoch: number;
}

/** The broadcasts that change room state (presence has its own hook; typing and requests are transient). */
export const roomEvents = [
  'chat:new_message',
  'chat:unread',
  'document:locked',
  'document:unlocked',
  'document:updated',
  'checklist:updated',
  'checklist:changed',
  'progress:updated',
  'project:updated',
  'project:status_change',
] as const satisfies readonly ServerEvent[];
export type RoomEvent = (typeof roomEvents)[number];

type EventAction = { [E in RoomEvent]: { type: E; payload: ServerPayload<E> } }[RoomEvent];
export type RoomAction =
  | { type: 'snapshot'; snapshot: RoomSnapshot }
  /** The reply to `chat:history`: an older page of messages. */
  | { type: 'chat:history_loaded'; reply: HistoryReply }
  /** The reply to one's own `chat:message`. */
  | { type: 'chat:sent'; message: ChatMessage }
  /** The reply to one's own `chat:mark_read`. */
  | { type: 'chat:read'; unread_count: number }
  /** The reply to one's own `checklist:toggle`: the item and the progress after it. */
  | { type: 'checklist:toggled'; reply: ToggleReply }
  /** The reply to a template edit: the whole checklist. */
  | { type: 'checklist:replaced'; checklist: ChecklistReply }
  /** One's own `project:set_status` was accepted. */
  | { type: 'project:status_set'; status: ProjectStatus }
  | EventAction;

export function fromSnapshot(snapshot: RoomSnapshot, epoch = 1): RoomState {
  return {
    epoch,
    project: snapshot.project,
    documents: snapshot.documents,
    checklist: { items: sortItems(snapshot.checklist.items), progress: snapshot.checklist.progress },
    chat: { ...chatLogOf(snapshot.chat.messages), has_more: snapshot.chat.has_more, unread_count: snapshot.chat.unread_count },
    members_last_seen: snapshot.members_last_seen,
  };
}

/**
 * A join (or rejoin) replaces everything: after a reconnect nothing stale survives. Broadcasts
 * before the first snapshot are dropped; the snapshot that follows contains them.
 */
export function reduceRoom(state: RoomState | null, action: RoomAction): RoomState | null {
  if (action.type === 'snapshot') return fromSnapshot(action.snapshot, (state?.epoch ?? 0) + 1);
  if (!state) return null;
  switch (action.type) {
    case 'chat:new_message':
      return withChat(state, receiveBroadcast(state.chat, action.payload));
    case 'chat:sent':
      return withChat(state, receiveOwnReply(state.chat, action.message));
    case 'chat:history_loaded':
      return { ...state, chat: { ...state.chat, ...prependPage(state.chat, action.reply.messages), has_more: action.reply.has_more } };
    case 'chat:read':
      return state.chat.unread_count === action.unread_count
        ? state
        : { ...state, chat: { ...state.chat, unread_count: action.unread_count } };
    case 'checklist:toggled': {
      // The reply's progress may be older than a broadcast that overtook it: count the items shown.
      const { item } = action.reply;
      const items = state.checklist.items.map((i) => (i.id === item.id ? item : i));
      return { ...state, checklist: { items, progress: computeProgress(items.filter((i) => i.checked).length, items.length) } };
    }
    case 'checklist:replaced':
      return { ...state, checklist: { items: sortItems(action.checklist.items), progress: action.checklist.progress } };
    case 'project:status_set':
      return state.project ? { ...state, project: { ...state.project, status: action.status } } : state;
    case 'chat:unread':
      return state.project && action.payload.project_id !== state.project.id
        ? state
        : { ...state, chat: { ...state.chat, unread_count: action.payload.count } };
    case 'document:locked':
    case 'document:unlocked':
    case 'document:updated': {
      const documents = reduceDocuments(state.documents, action);
      return documents === state.documents ? state : { ...state, documents };
    }
    case 'checklist:updated':
    case 'checklist:changed':
    case 'progress:updated': {
      const checklist = reduceChecklist(state.checklist, action);
      return checklist === state.checklist ? state : { ...state, checklist };
    }
    case 'project:updated': {
      const { members, ...info } = action.payload;
      if (state.project && info.id !== state.project.id) return state;
      return { ...state, project: { ...info, members: members ?? state.project?.members ?? [] } };
    }
    case 'project:status_change': {
      const { project } = state;
      if (!project || action.payload.project_id !== project.id) return state;
      return { ...state, project: { ...project, status: action.payload.status } };
    }
    default: {
      const unhandled: never = action;
      return unhandled;
    }
  }
}

const withChat = (state: RoomState, log: ChatLog): RoomState =>
  log.messages === state.chat.messages && log.unconfirmed === state.chat.unconfirmed
    ? state
    : { ...state, chat: { ...state.chat, ...log } };
