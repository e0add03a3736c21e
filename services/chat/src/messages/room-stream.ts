import { randomUUID } from 'node:crypto';
import { AppError, type ChatMessage, type MarkReadReply } from '@siteflow/contracts';
import type { StreamCommand } from '@siteflow/servicekit';
import { decide } from './decide.js';
import {
  badgesOf,
  insertMessage,
  recentPostTimes,
  roomForPost,
  readStateOf,
  saveReadMark,
  unreadCount,
  versionOfMessage,
  type UnreadBadge,
} from './messages.read-model.js';
import { chatStreamId, evolve, toChatMessage, type ChatRoomEvent, type ChatRoomState } from './room.js';

/**
 * What every command on a room's stream shares (the command pipeline): how its events evolve the
 * state, are stored (messages to the room, read marks to each member's own subject) and projected.
 * Each command brings its own `load` (only what it decides on), `decide` and `reply`.
 *
 * The projection writes nothing per member: a message row numbered in the room and among its
 * author's posts, the author's own-post count, a read mark positioned in the room (unread counts
 * follow from these positions: docs/architecture.md, "Unread counts"). It fills `badges` with the
 * counts that changed (the other members' after a post, read in the statement that inserts the
 * message; the reader's after a read mark): the caller publishes them once the transaction has
 * committed, as ephemeral `chat:unread` messages on each member's own subject. They are not
 * events: the event store holds what happened (one `MessagePosted` per post, whatever the number
 * of members), and a count follows from it.
 */
export function chatRoom(
  projectId: number,
  badges: UnreadBadge[] = [],
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
          // No longer decided (issue 16); older streams hold them, and they were stored like this.
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
    project: async (tx, { events, version }) => {
      // The events' versions: the stream's, after them, counted back.
      const first = version - events.length + 1;
      // A transaction run again (a concurrent creator of the stream won) projects again from scratch.
      badges.length = 0;
      for (const [i, e] of events.entries()) {
        // With COMMIT, in its round trip: nothing later in the transaction reads it.
        if (e.type === 'MessagePosted') tx.atCommit(insertMessage(e, first + i), (result) => badges.push(...badgesOf(result)));
        if (e.type === 'ReadMarked') badges.push({ count: await saveReadMark(tx.client, e), user_ids: [e.data.user_id] });
      }
    },
  };
}

/**
 * `chat:message` as a stream command: the author's rate window (read after the stream lock: exact),
 * decide, append `MessagePosted`, project. `badges` gets the other members' new unread counts.
 */
export function postCommand(
  post: { projectId: number; messageId: string; text: string; author: { user_id: number; username: string; avatar_url: string } },
  badges: UnreadBadge[],
): StreamCommand<ChatRoomState, ChatRoomEvent, ChatMessage> {
  return {
    ...chatRoom(post.projectId, badges),
    // The author's recent posts are read with BEGIN and the lock (`first`), in one round trip.
    first: () => recentPostTimes(post.projectId, post.author.user_id),
    load: async (tx, version, recent) =>
      roomForPost(version, post.author.user_id, recent ?? (await tx.client.query(recentPostTimes(post.projectId, post.author.user_id)))),
    decide: (state, { now }) => decide({ type: 'PostMessage', data: { ...post, now } }, state),
    reply: ({ events }) => {
      const posted = events.find((e) => e.type === 'MessagePosted');
      if (!posted) throw new AppError('internal', 'no message was posted');
      return toChatMessage(posted);
    },
  };
}

/**
 * `chat:mark_read` as a stream command: moves the reader's mark forward (a mark at or behind it
 * changes nothing). `badges` gets the reader's new count when a mark was made, `read.before` the
 * count before it (the caller announces the new one only when it differs, as always).
 */
export function markReadCommand(
  mark: { projectId: number; userId: number; lastReadId: string },
  badges: UnreadBadge[],
  read: { before: number },
): StreamCommand<ChatRoomState, ChatRoomEvent, MarkReadReply> {
  return {
    ...chatRoom(mark.projectId, badges),
    load: async (tx, version) => {
      read.before = await unreadCount(tx.client, mark.projectId, mark.userId);
      return { version, members: [await readStateOf(tx.client, mark.projectId, mark.userId)], recentPosts: {} };
    },
    decide: async (state, { now, tx }) => {
      const messageVersion = await versionOfMessage(tx.client, mark.projectId, mark.lastReadId);
      if (messageVersion === null) throw new AppError('not_found', 'no such message in this project');
      return decide(
        { type: 'MarkRead', data: { projectId: mark.projectId, userId: mark.userId, messageId: mark.lastReadId, messageVersion, now } },
        state,
      );
    },
    reply: ({ events }) => ({ unread_count: events.length > 0 ? (badges[0]?.count ?? read.before) : read.before }),
  };
}
