import { AppError, CHAT_RATE_LIMIT, CHAT_RATE_WINDOW_MS } from '@siteflow/contracts';
import { CHAT_MAX_TEXT, type ChatRoomEvent, type ChatRoomState } from './room.js';

export type PostMessage = {
  type: 'PostMessage';
  data: {
    messageId: string;
    projectId: number;
    text: string;
    author: { user_id: number; username: string; avatar_url: string };
    now: Date;
  };
};
export type MarkRead = {
  type: 'MarkRead';
  data: {
    projectId: number;
    userId: number;
    messageId: string;
    /** The stream version of `messageId` (looked up by the caller; unknown ids never get here). */
    messageVersion: number;
    now: Date;
  };
};
export type ChatCommand = PostMessage | MarkRead;

/** Pure: what happens when a command meets a room. Ids and time come in with the command. */
export function decide(command: ChatCommand, state: ChatRoomState): ChatRoomEvent[] {
  switch (command.type) {
    case 'PostMessage': {
      const { messageId, projectId, author, now } = command.data;
      const text = command.data.text.trim();
      if (text.length === 0) throw new AppError('invalid_payload', 'message is empty');
      if (text.length > CHAT_MAX_TEXT) {
        throw new AppError('invalid_payload', `message is longer than ${CHAT_MAX_TEXT} characters`);
      }
      const windowStart = now.getTime() - CHAT_RATE_WINDOW_MS;
      const recent = (state.recentPosts[author.user_id] ?? [])
        .map((t) => Date.parse(t))
        .filter((t) => t > windowStart)
        .sort((a, b) => a - b);
      if (recent.length >= CHAT_RATE_LIMIT) {
        // The oldest post in the window leaves it first: that is when the next one fits.
        const oldest = recent[recent.length - CHAT_RATE_LIMIT] ?? now.getTime();
        const retryAfterMs = Math.max(1, oldest + CHAT_RATE_WINDOW_MS - now.getTime());
        throw new AppError(
          'rate_limited',
          `at most ${CHAT_RATE_LIMIT} messages a minute; try again in ${Math.ceil(retryAfterMs / 1000)} s`,
          {
            retry_after_ms: retryAfterMs,
          },
        );
      }
      // One event whatever the number of members: that everyone else has one more unread message
      // (and the author none) follows from it: the read models keep positions to compute it from.
      return [
        {
          type: 'MessagePosted',
          data: {
            message_id: messageId,
            project_id: projectId,
            text,
            user_id: author.user_id,
            username: author.username,
            avatar_url: author.avatar_url,
            posted_at: now.toISOString(),
          },
        },
      ];
    }
    case 'MarkRead': {
      const { projectId, userId, messageId, messageVersion, now } = command.data;
      const member = state.members.find((m) => m.user_id === userId);
      // A read mark only moves forward: marking an older message (another tab behind) changes nothing.
      if (member && messageVersion <= member.last_read_version) return [];
      // The reader's unread count becomes the messages by others after the mark (the read model recounts them).
      return [
        {
          type: 'ReadMarked',
          data: {
            project_id: projectId,
            user_id: userId,
            last_read_id: messageId,
            last_read_version: messageVersion,
            marked_at: now.toISOString(),
          },
        },
      ];
    }
    default: {
      const unknown: never = command;
      throw new AppError('invalid_payload', `unknown command ${String((unknown as { type: unknown }).type)}`);
    }
  }
}
