import type { ChatMessage } from '@siteflow/contracts';
import { CHAT_MAX_TEXT } from '@siteflow/contracts/constants';

/**
 * The messages shown, oldest first, each id once. Their order is the chat stream's order (ids
 * are UUIDs and say nothing about it): snapshot and history pages come in that order and
 * broadcasts arrive in it. A sender's own message also comes back in the reply to its push,
 * which may overtake broadcasts of earlier messages: it is shown at once but stays
 * "unconfirmed" until its broadcast gives it its place.
 */
export interface ChatLog {
  messages: readonly ChatMessage[];
  /** Ids shown from a push reply whose broadcast has not arrived yet. */
  unconfirmed: readonly string[];
}

export const chatLogOf = (messages: readonly ChatMessage[]): ChatLog => ({ messages: dedupe(messages), unconfirmed: [] });

function dedupe(messages: readonly ChatMessage[]): readonly ChatMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => (seen.has(m.id) ? false : (seen.add(m.id), true)));
}

/** `chat:new_message`: appended in arrival order; a message already shown is updated in place. */
export function receiveBroadcast(log: ChatLog, message: ChatMessage): ChatLog {
  const index = log.messages.findIndex((m) => m.id === message.id);
  if (log.unconfirmed.includes(message.id)) {
    // Its own broadcast places the sender's message after everything broadcast before it.
    return {
      messages: [...log.messages.filter((m) => m.id !== message.id), message],
      unconfirmed: log.unconfirmed.filter((id) => id !== message.id),
    };
  }
  const shown = log.messages[index];
  if (shown === undefined) return { ...log, messages: [...log.messages, message] };
  if (sameMessage(shown, message)) return log;
  return { ...log, messages: log.messages.map((m, i) => (i === index ? message : m)) };
}

/** The reply to one's own `chat:message`: shown right away unless its broadcast came first. */
export function receiveOwnReply(log: ChatLog, message: ChatMessage): ChatLog {
  if (log.messages.some((m) => m.id === message.id)) return log;
  return { messages: [...log.messages, message], unconfirmed: [...log.unconfirmed, message.id] };
}

/** A `chat:history` page (oldest first) goes before everything shown. */
export function prependPage(log: ChatLog, older: readonly ChatMessage[]): ChatLog {
  const shown = new Set(log.messages.map((m) => m.id));
  const fresh = dedupe(older).filter((m) => !shown.has(m.id));
  return fresh.length === 0 ? log : { ...log, messages: [...fresh, ...log.messages] };
}

function sameMessage(a: ChatMessage, b: ChatMessage): boolean {
  return (
    a.text === b.text &&
    a.username === b.username &&
    a.avatar_url === b.avatar_url &&
    a.timestamp === b.timestamp &&
    a.user_id === b.user_id
  );
}

/** What a composed message would be sent as, or why it cannot be sent. */
export function validateDraft(draft: string): { ok: true; text: string } | { ok: false; reason: string } {
  const text = draft.trim();
  if (text === '') return { ok: false, reason: 'Write a message first.' };
  if (text.length > CHAT_MAX_TEXT)
    return { ok: false, reason: `A message can be at most ${CHAT_MAX_TEXT} characters (this one has ${text.length}).` };
  return { ok: true, text };
}

/**
 * The message to mark read up to, or null: only when there are unread messages, the reader can
 * see the newest one, and it was not marked already (a repeated mark would only repeat the count).
 */
export function markReadTarget(
  messages: readonly ChatMessage[],
  unreadCount: number,
  lastMarkedId: string | null,
  readerSeesNewest: boolean,
): string | null {
  const newest = messages[messages.length - 1];
  if (!newest || unreadCount === 0 || !readerSeesNewest || newest.id === lastMarkedId) return null;
  return newest.id;
}

/** What the unread badge says, short enough for a tab. */
export const unreadBadge = (count: number): string => (count > 99 ? '99+' : String(count));

/** Longer than this many characters or lines, a message is shown collapsed (with "Show more"). */
export const LONG_MESSAGE_CHARS = 600;
export const LONG_MESSAGE_LINES = 10;

/** A message that would fill the chat panel: collapsed until its reader opens it. */
export function isLongMessage(text: string): boolean {
  return text.length > LONG_MESSAGE_CHARS || text.split('\n').length > LONG_MESSAGE_LINES;
}
