import type { z } from 'zod';
import type {
  ChatMessage,
  MessagePosted as MessagePostedSchema,
  ReadMarked as ReadMarkedSchema,
  UnreadCountChanged as UnreadCountChangedSchema,
} from '@siteflow/contracts';
import { CHAT_MAX_TEXT, CHAT_RATE_WINDOW_MS } from '@siteflow/contracts';

/** One project's chat room is one event stream: posts and read marks serialise on its version. */
export const chatStreamId = (projectId: number) => `chat-project-${projectId}`;

export type MessagePosted = z.infer<typeof MessagePostedSchema>;
export type ReadMarked = z.infer<typeof ReadMarkedSchema>;
export type UnreadCountChanged = z.infer<typeof UnreadCountChangedSchema>;
export type ChatRoomEvent = MessagePosted | ReadMarked | UnreadCountChanged;

/** A member's read mark: the stream version of the last message they read (0: none yet). */
export type MemberReadState = { user_id: number; last_read_version: number };

/**
 * What deciding needs to know about a room, loaded from the read models at the stream's version
 * (in the transaction that appends): the read mark of whoever marks read, and who posted when within
 * the rate window (only the actor's posts need be loaded). Unread counts are not decision state: they
 * follow from the read models' positions (see `unreadOf`), so a post decides without the other members.
 */
export type ChatRoomState = {
  version: number;
  members: MemberReadState[];
  recentPosts: Record<number, string[]>;
};
export const initialRoomState: ChatRoomState = { version: 0, members: [], recentPosts: {} };

export function evolve(state: ChatRoomState, event: ChatRoomEvent): ChatRoomState {
  const version = state.version + 1;
  switch (event.type) {
    case 'MessagePosted': {
      const d = event.data;
      return {
        ...state,
        version,
        recentPosts: { ...state.recentPosts, [d.user_id]: [...(state.recentPosts[d.user_id] ?? []), d.posted_at] },
      };
    }
    case 'ReadMarked': {
      const d = event.data;
      return {
        ...state,
        version,
        members: upsertMember(state.members, d.user_id, (m) => ({
          ...m,
          last_read_version: Math.max(m.last_read_version, d.last_read_version),
        })),
      };
    }
    case 'UnreadCountChanged':
      // Appended by posts and marks until issue 16 (one per member per post); still in older streams.
      // The count it carried follows from the messages and read marks, which is what `unreadOf` folds.
      return { ...state, version };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function upsertMember(members: MemberReadState[], userId: number, change: (m: MemberReadState) => MemberReadState): MemberReadState[] {
  const found = members.some((m) => m.user_id === userId);
  const base = found ? members : [...members, { user_id: userId, last_read_version: 0 }];
  return base.map((m) => (m.user_id === userId ? change(m) : m));
}

/**
 * A user's unread count, by definition, folded from the room's events: the messages by others
 * after the user's read mark (`stream`: the whole stream from its first event). The read models
 * compute it from positions (messages numbered in the room and among their author's posts, the read
 * mark placed among them): (room messages − those at the mark) − (own posts − those at the mark).
 * This is what that must equal.
 */
export function unreadOf(stream: readonly ChatRoomEvent[], userId: number): number {
  // `stream` is the whole stream from its first event: event i is version i + 1.
  const mark = stream.reduce(
    (m, e) => (e.type === 'ReadMarked' && e.data.user_id === userId ? Math.max(m, e.data.last_read_version) : m),
    0,
  );
  return stream.filter((e, i) => e.type === 'MessagePosted' && e.data.user_id !== userId && i + 1 > mark).length;
}

export function toChatMessage(e: MessagePosted): ChatMessage {
  return {
    id: e.data.message_id,
    text: e.data.text,
    user_id: e.data.user_id,
    username: e.data.username,
    avatar_url: e.data.avatar_url,
    timestamp: e.data.posted_at,
  };
}

export { CHAT_MAX_TEXT, CHAT_RATE_WINDOW_MS };
