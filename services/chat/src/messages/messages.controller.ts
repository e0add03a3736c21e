import { randomUUID } from 'node:crypto';
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  CHAT_SNAPSHOT_SIZE,
  MarkReadPayload,
  commandRequest,
  HistoryPayload,
  PostMessagePayload,
  projectClientEvents,
  subjects,
  type ChatMessage,
  type ChatSnapshot,
  type HistoryReply,
  type MarkReadReply,
  type ReplyEnvelope,
  type ServiceSnapshot,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, runStreamCommand, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { decide } from './decide.js';
import { loadRoomForPost, pageBefore, readStateOf, unreadAfter, unreadCount, versionOfMessage } from './messages.read-model.js';
import { chatStreamId, toChatMessage } from './room.js';
import { chatRoom } from './room-stream.js';

const PostRequest = commandRequest(PostMessagePayload);
const HistoryRequest = commandRequest(HistoryPayload);
const MarkReadRequest = commandRequest(MarkReadPayload);
const SnapshotRequest = commandRequest(z.object({}));

@Controller()
export class MessagesController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  /** `chat:message`: decide (rate limit included), append `MessagePosted` and the others' new unread counts, project, reply. */
  @MessagePattern(projectClientEvents['chat:message'].subject)
  post(@Payload() raw: unknown): Promise<ReplyEnvelope<ChatMessage>> {
    return handle(this.kit.logger, 'chat.message.post', PostRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const messageId = `m_${randomUUID()}`;
      const author = { user_id: ctx.user_id, username: ctx.username, avatar_url: ctx.avatar_url };
      return runStreamCommand(this.kit.store, {
        ...chatRoom(ctx.project_id),
        // The rate window and the unread counts, read after the stream lock: exact.
        load: (tx, version) => loadRoomForPost(tx.client, ctx.project_id, version, ctx.user_id),
        decide: (state, { now }) =>
          decide({ type: 'PostMessage', data: { messageId, projectId: ctx.project_id, text: payload.text, author, now } }, state),
        reply: ({ events }) => {
          const posted = events.find((e) => e.type === 'MessagePosted');
          if (!posted) throw new AppError('internal', 'no message was posted');
          return toChatMessage(posted);
        },
      });
    });
  }

  /** `chat:mark_read`: moves the user's read mark forward; their new unread count goes to `user:<id>`. */
  @MessagePattern(projectClientEvents['chat:mark_read'].subject)
  markRead(@Payload() raw: unknown): Promise<ReplyEnvelope<MarkReadReply>> {
    return handle(this.kit.logger, 'chat.read.mark', MarkReadRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      return runStreamCommand(this.kit.store, {
        ...chatRoom(ctx.project_id),
        load: async (tx, version) => ({ version, members: [await readStateOf(tx.client, ctx.project_id, ctx.user_id)], recentPosts: {} }),
        decide: async (state, { now, tx }) => {
          const messageVersion = await versionOfMessage(tx.client, ctx.project_id, payload.last_read_id);
          if (messageVersion === null) throw new AppError('not_found', 'no such message in this project');
          const unread = await unreadAfter(tx.client, ctx.project_id, ctx.user_id, messageVersion);
          return decide(
            {
              type: 'MarkRead',
              data: {
                projectId: ctx.project_id,
                userId: ctx.user_id,
                messageId: payload.last_read_id,
                messageVersion,
                unreadAfter: unread,
                now,
              },
            },
            state,
          );
        },
        reply: ({ after }) => ({ unread_count: after.members.find((m) => m.user_id === ctx.user_id)?.unread ?? 0 }),
      });
    });
  }

  /** `chat:history`: pages backwards; every message appears once across pages. */
  @MessagePattern(projectClientEvents['chat:history'].subject)
  history(@Payload() raw: unknown): Promise<ReplyEnvelope<HistoryReply>> {
    return handle(this.kit.logger, 'chat.message.history', HistoryRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const client = await this.kit.pool.connect();
      try {
        let before: number | null = null;
        if (payload.before_id) {
          before = await versionOfMessage(client, ctx.project_id, payload.before_id);
          if (before === null) throw new AppError('not_found', 'no such message in this project');
        }
        return await pageBefore(client, ctx.project_id, before, payload.limit ?? CHAT_SNAPSHOT_SIZE);
      } finally {
        client.release();
      }
    });
  }

  /** The chat part of the room snapshot, read in one consistent snapshot with its stream version. */
  @MessagePattern(subjects.snapshot('chat'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<ChatSnapshot>>> {
    return handle(this.kit.logger, 'chat.snapshot', SnapshotRequest, raw, async ({ ctx: asked }) => {
      const ctx = await this.members.require(asked);
      // Read only: a join never writes.
      return this.kit.store.snapshot(async (tx) => {
        const streamId = chatStreamId(ctx.project_id);
        const version = await tx.streamVersion(streamId);
        const page = await pageBefore(tx.client, ctx.project_id, null, CHAT_SNAPSHOT_SIZE);
        const unread = await unreadCount(tx.client, ctx.project_id, ctx.user_id);
        return { part: { ...page, unread_count: unread }, versions: { [streamId]: version } };
      });
    });
  }
}
