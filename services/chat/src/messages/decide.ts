import { AppError } from '@siteflow/contracts';
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
export type ChatCommand = PostMessage;

/** Pure: what happens when a command meets a room. Ids and time come in with the command. */
export function decide(command: ChatCommand, _state: ChatRoomState): ChatRoomEvent[] {
  switch (command.type) {
    case 'PostMessage': {
      const text = command.data.text.trim();
      if (text.length === 0) throw new AppError('invalid_payload', 'message is empty');
      if (text.length > CHAT_MAX_TEXT) {
        throw new AppError('invalid_payload', `message is longer than ${CHAT_MAX_TEXT} characters`);
      }
      return [
        {
          type: 'MessagePosted',
          data: {
            message_id: command.data.messageId,
            project_id: command.data.projectId,
            text,
            user_id: command.data.author.user_id,
            username: command.data.author.username,
            avatar_url: command.data.author.avatar_url,
            posted_at: command.data.now.toISOString(),
          },
        },
      ];
    }
    default: {
      const unknown: never = command.type;
      throw new AppError('invalid_payload', `unknown command ${String(unknown)}`);
    }
  }
}
