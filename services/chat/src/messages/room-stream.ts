import { randomUUID } from 'node:crypto';
import type { StreamCommand } from '@siteflow/servicekit';
import { insertMessage, saveReadMark } from './messages.read-model.js';
import { chatStreamId, evolve, toChatMessage, type ChatRoomEvent, type ChatRoomState } from './room.js';

/**
 * What every command on a room's stream shares (the command pipeline): how its events evolve the
 * state, are stored (messages to the room, read marks and unread counts to each member's own topic)
 * and projected. Each command brings its own `load` (only what it decides on), `decide` and `reply`.
 */
export function chatRoom(
  projectId: number,
): Pick<StreamCommand<ChatRoomState, ChatRoomEvent, unknown>, 'streamId' | 'evolve' | 'toNewEvent' | 'project'> {
  return {
    streamId: chatStreamId(projectId),
    evolve,
    toNewEvent: (e) => {
      switch (e.type) {
        case 'MessagePosted':
          return {
            id: randomUUID(),
            type: e.type,
            data: e.data,
            projectId,
            broadcast: { event: 'chat:new_message', payload: toChatMessage(e) },
          };
        case 'ReadMarked':
          return { id: randomUUID(), type: e.type, data: e.data, projectId: null, userId: e.data.user_id, broadcast: null };
        case 'UnreadCountChanged':
          return {
            id: randomUUID(),
            type: e.type,
            data: e.data,
            projectId: null,
            userId: e.data.user_id,
            broadcast: { event: 'chat:unread', payload: { project_id: e.data.project_id, count: e.data.count } },
          };
      }
    },
    project: async (tx, { events, recorded }) => {
      for (const [i, e] of events.entries()) {
        if (e.type === 'MessagePosted') await insertMessage(tx.client, e, recorded[i]?.version ?? 0);
        if (e.type === 'ReadMarked') await saveReadMark(tx.client, e);
      }
    },
  };
}
