import { randomUUID } from 'node:crypto';
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  CHAT_SNAPSHOT_SIZE,
  commandRequest,
  HistoryPayload,
  PostMessagePayload,
  projectClientEvents,
  subjects,
  type ChatMessage,
  type ChatSnapshot,
  type HistoryReply,
  type ReplyEnvelope,
  type ServiceSnapshot,
} from '@siteflow/contracts';
import { handle, retryOnConcurrency, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { decide } from './decide.js';
import { insertMessage, pageBefore, unreadCount, versionOfMessage } from './messages.read-model.js';
import { chatStreamId, toChatMessage } from './room.js';

const PostRequest = commandRequest(PostMessagePayload);
const HistoryRequest = commandRequest(HistoryPayload);
const SnapshotRequest = commandRequest(z.object({}));

@Controller()
export class MessagesController {
  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  /** `chat:message`: decide, append `MessagePosted`, project it, reply with the message. */
  @MessagePattern(projectClientEvents['chat:message'].subject)
  post(@Payload() raw: unknown): Promise<ReplyEnvelope<ChatMessage>> {
    return handle(this.kit.logger, 'chat.message.post', PostRequest, raw, ({ ctx, payload }) => {
      const messageId = `m_${randomUUID()}`;
      const now = new Date();
      const streamId = chatStreamId(ctx.project_id);
      return retryOnConcurrency(() =>
        this.kit.store.transaction(async (tx) => {
          const version = await tx.streamVersion(streamId);
          const events = decide(
            {
              type: 'PostMessage',
              data: {
                messageId,
                projectId: ctx.project_id,
                text: payload.text,
                author: { user_id: ctx.user_id, username: ctx.username, avatar_url: ctx.avatar_url },
                now,
              },
            },
            { version },
          );
          // Append first, then project: the append is the transaction's first write (see eventstore).
          const { recorded } = await tx.append(
            streamId,
            events.map((e) => ({
              id: randomUUID(),
              type: e.type,
              data: e.data,
              projectId: ctx.project_id,
              broadcast: { event: 'chat:new_message', payload: toChatMessage(e) },
            })),
            { expectedVersion: version, now },
          );
          let message: ChatMessage | null = null;
          for (const [i, e] of events.entries()) {
            await insertMessage(tx.client, e, recorded[i]!.version);
            message = toChatMessage(e);
          }
          if (!message) throw new AppError('internal', 'no message was posted');
          return message;
        }),
      );
    });
  }

  /** `chat:history`: pages backwards; every message appears once across pages. */
  @MessagePattern(projectClientEvents['chat:history'].subject)
  history(@Payload() raw: unknown): Promise<ReplyEnvelope<HistoryReply>> {
    return handle(this.kit.logger, 'chat.message.history', HistoryRequest, raw, async ({ ctx, payload }) => {
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
    return handle(this.kit.logger, 'chat.snapshot', SnapshotRequest, raw, ({ ctx }) =>
      this.kit.store.snapshot(async (tx) => {
        const streamId = chatStreamId(ctx.project_id);
        const version = await tx.streamVersion(streamId);
        const page = await pageBefore(tx.client, ctx.project_id, null, CHAT_SNAPSHOT_SIZE);
        const unread = await unreadCount(tx.client, ctx.project_id, ctx.user_id);
        return { part: { ...page, unread_count: unread }, versions: { [streamId]: version } };
      }),
    );
  }
}
