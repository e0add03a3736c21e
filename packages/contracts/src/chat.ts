import { z } from 'zod';
import { CHAT_HISTORY_MAX, CHAT_MAX_TEXT } from './constants.js';
import { IsoTime, MessageId, ProjectId, UserId } from './ids.js';

/** A chat message as every client sees it (the `chat:new_message` payload, docs/protocol.md). */
export const ChatMessage = z.object({
  id: MessageId,
  text: z.string(),
  user_id: UserId,
  username: z.string(),
  avatar_url: z.string(),
  timestamp: IsoTime,
});
export type ChatMessage = z.infer<typeof ChatMessage>;

// Client → server
/** `chat:message`: text is trimmed; empty or over 4000 characters is `invalid_payload`. */
export const PostMessagePayload = z.strictObject({
  text: z.string().trim().min(1, 'message is empty').max(CHAT_MAX_TEXT, `message is longer than ${CHAT_MAX_TEXT} characters`),
});
export type PostMessagePayload = z.infer<typeof PostMessagePayload>;
export const TypingPayload = z.strictObject({});
export const HistoryPayload = z.strictObject({
  before_id: MessageId.optional(),
  limit: z.number().int().min(1).max(CHAT_HISTORY_MAX).optional(),
});
export type HistoryPayload = z.infer<typeof HistoryPayload>;
export const MarkReadPayload = z.strictObject({ last_read_id: MessageId });
export type MarkReadPayload = z.infer<typeof MarkReadPayload>;

// Replies
export const PostMessageReply = ChatMessage;
export const HistoryReply = z.object({ messages: z.array(ChatMessage), has_more: z.boolean() });
export type HistoryReply = z.infer<typeof HistoryReply>;
export const MarkReadReply = z.object({ unread_count: z.number().int().min(0) });
export type MarkReadReply = z.infer<typeof MarkReadReply>;
/** `chat:typing` / `chat:stop_typing`: `typing` is the state the others now see. */
export const TypingReply = z.object({ typing: z.boolean() });
export type TypingReply = z.infer<typeof TypingReply>;

// Server → client
export const NewMessageBroadcast = ChatMessage;
export const TypingBroadcast = z.object({ user_id: UserId, username: z.string(), typing: z.boolean() });
export const UnreadBroadcast = z.object({ project_id: ProjectId, count: z.number().int().min(0) });

/** The chat part of the room snapshot. */
export const ChatSnapshot = z.object({
  messages: z.array(ChatMessage),
  has_more: z.boolean(),
  unread_count: z.number().int().min(0),
});
export type ChatSnapshot = z.infer<typeof ChatSnapshot>;

// Domain events (stored in the `chat` schema)
export const MessagePosted = z.object({
  type: z.literal('MessagePosted'),
  data: z.object({
    message_id: MessageId,
    project_id: ProjectId,
    text: z.string(),
    user_id: UserId,
    username: z.string(),
    avatar_url: z.string(),
    posted_at: IsoTime,
  }),
});
export const ReadMarked = z.object({
  type: z.literal('ReadMarked'),
  /** `last_read_version`: the chat stream version of that message (read marks only move forward). */
  data: z.object({
    project_id: ProjectId,
    user_id: UserId,
    last_read_id: MessageId,
    last_read_version: z.number().int().min(1),
    marked_at: IsoTime,
  }),
});
/**
 * A member's unread count after a message or a read mark, on the member's own subject
 * (`user.<id>.ev.chat.UnreadCountChanged`). No longer appended (issue 16: one per member per post
 * made a post's cost grow with the members); older chat streams still hold them. The count is now
 * a read model, and `chat:unread` an ephemeral message (docs/architecture.md, "Unread counts").
 */
export const UnreadCountChanged = z.object({
  type: z.literal('UnreadCountChanged'),
  data: z.object({ project_id: ProjectId, user_id: UserId, count: z.number().int().min(0) }),
});
export const ChatEvent = z.discriminatedUnion('type', [MessagePosted, ReadMarked, UnreadCountChanged]);
export type ChatEvent = z.infer<typeof ChatEvent>;
