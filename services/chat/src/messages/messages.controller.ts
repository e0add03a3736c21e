import { randomUUID } from 'node:crypto';
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  CHAT_RATE_WINDOW_MS,
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
import type { EventStoreTx, NewEvent } from '@siteflow/eventstore';
import { handle, PROJECT_MEMBERSHIP, retryOnConcurrency, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { decide } from './decide.js';
import {
  insertMessage,
  memberReadStates,
  pageBefore,
  readStateOf,
  recentPostTimes,
  saveReadMark,
  unreadAfter,
  unreadCount,
  versionOfMessage,
} from './messages.read-model.js';
import { SerialByKey } from '@siteflow/servicekit';
import { chatStreamId, evolve, toChatMessage, type ChatRoomEvent, type ChatRoomState } from './room.js';

const PostRequest = commandRequest(PostMessagePayload);
const HistoryRequest = commandRequest(HistoryPayload);
const MarkReadRequest = commandRequest(MarkReadPayload);
const SnapshotRequest = commandRequest(z.object({}));

@Controller()
export class MessagesController {
  private readonly perRoom = new SerialByKey<number>();

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
      return this.inRoomTransaction(ctx.project_id, async (tx) => {
        const now = new Date();
        const state = await this.loadRoom(tx, ctx.project_id, ctx.user_id, now);
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
          state,
        );
        const { recorded } = await this.append(tx, ctx.project_id, state.version, events, now);
        let message: ChatMessage | null = null;
        for (const [i, e] of events.entries()) {
          if (e.type !== 'MessagePosted') continue;
          await insertMessage(tx.client, e, recorded[i]!.version);
          message = toChatMessage(e);
        }
        if (!message) throw new AppError('internal', 'no message was posted');
        return message;
      });
    });
  }

  /** `chat:mark_read`: moves the user's read mark forward; their new unread count goes to `user:<id>`. */
  @MessagePattern(projectClientEvents['chat:mark_read'].subject)
  markRead(@Payload() raw: unknown): Promise<ReplyEnvelope<MarkReadReply>> {
    return handle(this.kit.logger, 'chat.read.mark', MarkReadRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      return this.inRoomTransaction(ctx.project_id, async (tx) => {
        const now = new Date();
        const streamId = chatStreamId(ctx.project_id);
        const version = await tx.lockStream(streamId);
        const messageVersion = await versionOfMessage(tx.client, ctx.project_id, payload.last_read_id);
        if (messageVersion === null) throw new AppError('not_found', 'no such message in this project');
        const state: ChatRoomState = { version, members: [await readStateOf(tx.client, ctx.project_id, ctx.user_id)], recentPosts: {} };
        const events = decide(
          {
            type: 'MarkRead',
            data: {
              projectId: ctx.project_id,
              userId: ctx.user_id,
              messageId: payload.last_read_id,
              messageVersion,
              unreadAfter: await unreadAfter(tx.client, ctx.project_id, ctx.user_id, messageVersion),
              now,
            },
          },
          state,
        );
        await this.append(tx, ctx.project_id, version, events, now);
        for (const e of events) if (e.type === 'ReadMarked') await saveReadMark(tx.client, e);
        const after = events.reduce(evolve, state).members.find((m) => m.user_id === ctx.user_id);
        return { unread_count: after?.unread ?? 0 };
      });
    });
  }

  /**
   * One write to a room: a transaction, run again when another writer appended first, and queued
   * in this process behind the room's other writes before it queues on the stream row (SerialByKey).
   */
  private inRoomTransaction<T>(projectId: number, work: (tx: EventStoreTx) => Promise<T>): Promise<T> {
    return this.perRoom.run(projectId, () => retryOnConcurrency(() => this.kit.store.transaction(work)));
  }

  /**
   * The room as deciding a post needs it, at the stream version the append will expect. The stream
   * row is locked first: posts to one room queue instead of failing and retrying, and the rate
   * window and unread counts read after the lock are exact.
   */
  private async loadRoom(tx: EventStoreTx, projectId: number, authorId: number, now: Date): Promise<ChatRoomState> {
    const streamId = chatStreamId(projectId);
    const version = await tx.lockStream(streamId);
    const members = await memberReadStates(tx.client, projectId);
    const since = new Date(now.getTime() - CHAT_RATE_WINDOW_MS);
    return { version, members, recentPosts: { [authorId]: await recentPostTimes(tx.client, projectId, authorId, since) } };
  }

  /** Appends with what clients see: messages to the room, unread counts to each member's own topic. */
  private append(tx: EventStoreTx, projectId: number, version: number, events: ChatRoomEvent[], now: Date) {
    return tx.append(
      chatStreamId(projectId),
      events.map((e): NewEvent => {
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
      }),
      { expectedVersion: version === 0 ? 'no_stream' : version, now },
    );
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
