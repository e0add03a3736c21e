import { randomUUID } from 'node:crypto';
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  CHAT_SNAPSHOT_SIZE,
  ChatSnapshotPayload,
  MarkReadPayload,
  commandRequest,
  HistoryPayload,
  NOT_A_MEMBER,
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
import { unreadBadgePayload } from './badges.js';
import { pageBefore, unreadCount, unreadCounts, versionOfMessage, type UnreadBadge } from './messages.read-model.js';
import { chatStreamId } from './room.js';
import { markReadCommand, postCommand } from './room-stream.js';

const PostRequest = commandRequest(PostMessagePayload);
const HistoryRequest = commandRequest(HistoryPayload);
const MarkReadRequest = commandRequest(MarkReadPayload);
const SnapshotRequest = commandRequest(ChatSnapshotPayload);

@Controller()
export class MessagesController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  /**
   * `chat:message`: decide (rate limit included), append `MessagePosted`, project (the message
   * numbered in the room, the author's own-post count; the other members' new counts read in the
   * same statement), reply; then each other member's new count goes to `user:<id>`.
   */
  @MessagePattern(projectClientEvents['chat:message'].subject)
  post(@Payload() raw: unknown): Promise<ReplyEnvelope<ChatMessage>> {
    return handle(this.kit.logger, 'chat.message.post', PostRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const messageId = `m_${randomUUID()}`;
      const author = { user_id: ctx.user_id, username: ctx.username, avatar_url: ctx.avatar_url };
      const badges: UnreadBadge[] = [];
      const message = await runStreamCommand(
        this.kit.store,
        postCommand({ projectId: ctx.project_id, messageId, text: payload.text, author }, badges),
      );
      this.publishBadges(ctx.project_id, badges);
      return message;
    });
  }

  /** `chat:mark_read`: moves the user's read mark forward; their new unread count goes to `user:<id>` when it changed. */
  @MessagePattern(projectClientEvents['chat:mark_read'].subject)
  markRead(@Payload() raw: unknown): Promise<ReplyEnvelope<MarkReadReply>> {
    return handle(this.kit.logger, 'chat.read.mark', MarkReadRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const badges: UnreadBadge[] = [];
      const read = { before: 0 };
      const reply = await runStreamCommand(
        this.kit.store,
        markReadCommand({ projectId: ctx.project_id, userId: ctx.user_id, lastReadId: payload.last_read_id }, badges, read),
      );
      this.publishBadges(
        ctx.project_id,
        badges.filter((b) => b.count !== read.before),
      );
      return reply;
    });
  }

  /**
   * Each member's unread count after a committed command, to their own `user:<id>` topic as
   * `chat:unread {project_id, count}`: ephemeral (core NATS, never stored), the count read in the
   * command's transaction. Sent once the reply is on its way (a room of 500 has 499 to send), in
   * commit order within this instance: a room's commands run one at a time here, and the next can
   * only commit after round trips to Postgres, and these go out in this turn of the event loop. The
   * count of record is the read model, which the join snapshot and the mark_read reply carry
   * (docs/architecture.md, "Unread counts").
   *
   * One publish per member (the protocol: a badge on each member's own subject), but the payload
   * is encoded once per count, not per member: in a big room most members share a count (every
   * message by others), and handing NATS the same bytes for each skips encoding a string per
   * publish (about a third of the chat CPU a 500-member post spent on badges).
   */
  private publishBadges(projectId: number, badges: UnreadBadge[]): void {
    if (badges.length === 0) return;
    setImmediate(() => {
      for (const b of badges) {
        const payload = unreadBadgePayload(projectId, b.count);
        for (const userId of b.user_ids) this.kit.nats.publish(subjects.userEphemeral(userId, 'chat', 'unread'), payload);
      }
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
  snapshot(
    @Payload() raw: unknown,
  ): Promise<
    ReplyEnvelope<ServiceSnapshot<ChatSnapshot | Pick<ChatSnapshot, 'unread_count'> | { unread_counts: Record<string, number> }>>
  > {
    return handle(this.kit.logger, 'chat.snapshot', SnapshotRequest, raw, async ({ ctx: asked, payload }) => {
      if (payload.unread_of !== undefined) {
        // The joins of one room sharing its read, asked together by their gateway: each listed user
        // is checked as a caller would be; one the members table does not have is left out (its
        // join is refused). One statement for all of them.
        const members = await Promise.all(
          payload.unread_of.map((user_id) =>
            this.members.require({ ...asked, user_id }).then(
              () => user_id,
              (err: unknown) => {
                if (err instanceof AppError && err.code === NOT_A_MEMBER.code) return null;
                throw err;
              },
            ),
          ),
        );
        const ids = members.filter((id): id is number => id !== null);
        const counts = ids.length > 0 ? await unreadCounts(this.kit.pool, asked.project_id, ids) : new Map<number, number>();
        return { part: { unread_counts: Object.fromEntries([...counts].map(([id, n]) => [String(id), n])) }, versions: {} };
      }
      const ctx = await this.members.require(asked);
      if (payload.unread_only === true) {
        // A join that shares its room's read asks only for what is its own: one statement (its own
        // consistent snapshot), so no transaction around it (BEGIN and COMMIT were two of its three
        // round trips, and this runs once per join).
        return { part: { unread_count: await unreadCount(this.kit.pool, ctx.project_id, ctx.user_id) }, versions: {} };
      }
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
