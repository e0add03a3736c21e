import type { ChatMessage } from '@siteflow/contracts';
import { CHAT_MAX_TEXT } from '@siteflow/contracts';

/** One project's chat room is one event stream. */
export const chatStreamId = (projectId: number) => `chat-project-${projectId}`;

export type MessagePosted = {
  type: 'MessagePosted';
  data: {
    message_id: string;
    project_id: number;
    text: string;
    user_id: number;
    username: string;
    avatar_url: string;
    posted_at: string;
  };
};
export type ChatRoomEvent = MessagePosted;

/** What deciding needs to know about a room. */
export type ChatRoomState = { version: number };
export const initialRoomState: ChatRoomState = { version: 0 };

export function evolve(state: ChatRoomState, _event: ChatRoomEvent): ChatRoomState {
  return { version: state.version + 1 };
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

export { CHAT_MAX_TEXT };
