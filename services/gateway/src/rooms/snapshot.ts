import type { NatsConnection } from '@nats-io/transport-node';
import {
  ChatServiceSnapshot,
  ChatUnreadManyServiceSnapshot,
  ChatUnreadServiceSnapshot,
  NOT_A_MEMBER,
  UNREAD_BATCH_MAX,
  ChecklistServiceSnapshot,
  DocumentsServiceSnapshot,
  PresenceServiceSnapshot,
  subjects,
  type CommandContext,
  type ErrorBody,
  type PresenceState,
  type RoomSnapshot,
  type ServiceName,
} from '@siteflow/contracts';
import { requestService, type ServiceFailureLogger } from '@siteflow/messaging';
import type { z } from 'zod';
import { TurnBatch } from './turn-batch.js';

/** Times a request (GatewayMetrics: siteflow_gateway_nats_request_duration_seconds, by subject and outcome). */
export interface RequestTimer {
  observeRequest(subject: string, outcome: string, seconds: number): void;
}

export async function timed(
  nats: NatsConnection,
  subject: string,
  body: { ctx: CommandContext; payload: Record<string, unknown> },
  opts: { timeoutMs: number; logger: ServiceFailureLogger | undefined },
  timer: RequestTimer | undefined,
) {
  const asked = performance.now();
  const reply = await requestService(nats, subject, body, opts);
  timer?.observeRequest(subject, reply.ok ? 'ok' : reply.error.code, (performance.now() - asked) / 1000);
  return reply;
}

export type RoomSnapshotResult =
  { ok: true; snapshot: RoomSnapshot; presence: PresenceState; versions: Record<string, number> } | { ok: false; error: ErrorBody };

async function part<S extends z.ZodType>(
  nats: NatsConnection,
  service: ServiceName,
  schema: S,
  ctx: CommandContext,
  timeoutMs: number,
  logger: ServiceFailureLogger | undefined,
  timer: RequestTimer | undefined,
): Promise<{ ok: true; value: z.infer<S> } | { ok: false; error: ErrorBody }> {
  const subject = subjects.snapshot(service);
  const reply = await timed(nats, subject, { ctx, payload: {} }, { timeoutMs, logger }, timer);
  if (!reply.ok) return reply;
  const parsed = schema.safeParse(reply.data);
  if (!parsed.success) {
    // The joiner only sees `internal`: this line says which service, whose join and where.
    logger?.error(
      {
        subject,
        service,
        user: ctx.user_id,
        connection: ctx.connection_id,
        project: ctx.project_id,
        issues: parsed.error.issues.slice(0, 5),
      },
      'a service answered a malformed snapshot part; the join is refused with internal',
    );
    return { ok: false, error: { code: 'internal', message: `${service} snapshot is malformed` } };
  }
  return { ok: true, value: parsed.data };
}

/**
 * The user's own unread chat count (`chat.snapshot` with `unread_only`), for a join that shares its
 * room's snapshot read with others: the one part of the room that is the user's own.
 */
export async function readOwnUnread(
  nats: NatsConnection,
  ctx: CommandContext,
  timeoutMs: number,
  logger?: ServiceFailureLogger,
  timer?: RequestTimer,
): Promise<OwnUnread> {
  const subject = subjects.snapshot('chat');
  const reply = await timed(nats, subject, { ctx, payload: { unread_only: true } }, { timeoutMs, logger }, timer);
  if (!reply.ok) return reply;
  const parsed = ChatUnreadServiceSnapshot.safeParse(reply.data);
  if (!parsed.success) {
    logger?.error(
      { subject, service: 'chat', user: ctx.user_id, connection: ctx.connection_id, project: ctx.project_id },
      'chat answered a malformed unread count; the join is refused with internal',
    );
    return { ok: false, error: { code: 'internal', message: 'chat unread count is malformed' } };
  }
  return { ok: true, unread: parsed.data.part.unread_count };
}

type OwnUnread = { ok: true; unread: number } | { ok: false; error: ErrorBody };

/**
 * The own unread counts of the joins that share their room's snapshot read, asked of chat together:
 * the joins of one project that want theirs in the same turn of the event loop (a room's joins are
 * admitted and answered together) share one `chat.snapshot` request with `unread_of`, instead of
 * one request each (in a join storm, 10,000 requests to chat). A lone join asks for itself, as
 * before. A chat that does not understand `unread_of` (an older instance during a rolling upgrade)
 * answers something else: then each asks for itself.
 */
export class OwnUnreadReads {
  /** Requests sent and users asked for (for tests and metrics). */
  readonly stats = { requests: 0, users: 0 };
  private readonly batch: TurnBatch<
    { ctx: CommandContext; timeoutMs: number; logger?: ServiceFailureLogger; timer?: RequestTimer },
    OwnUnread
  >;

  constructor(private readonly nats: NatsConnection) {
    this.batch = new TurnBatch(UNREAD_BATCH_MAX, (_project, items) => this.send(items));
  }

  read(ctx: CommandContext, timeoutMs: number, logger?: ServiceFailureLogger, timer?: RequestTimer): Promise<OwnUnread> {
    return this.batch.add(ctx.project_id, { ctx, timeoutMs, ...(logger ? { logger } : {}), ...(timer ? { timer } : {}) });
  }

  private async send(
    items: Array<{ ctx: CommandContext; timeoutMs: number; logger?: ServiceFailureLogger; timer?: RequestTimer }>,
  ): Promise<OwnUnread[]> {
    const one = (x: (typeof items)[number]) => {
      this.stats.requests++;
      return readOwnUnread(this.nats, x.ctx, x.timeoutMs, x.logger, x.timer);
    };
    const head = items[0];
    if (!head) return [];
    if (items.length === 1) {
      this.stats.users++;
      return [await one(head)];
    }
    const users = [...new Set(items.map((x) => x.ctx.user_id))];
    this.stats.requests++;
    this.stats.users += users.length;
    const reply = await timed(
      this.nats,
      subjects.snapshot('chat'),
      { ctx: head.ctx, payload: { unread_of: users } },
      { timeoutMs: head.timeoutMs, logger: head.logger },
      head.timer,
    );
    if (!reply.ok) return items.map(() => reply);
    const parsed = ChatUnreadManyServiceSnapshot.safeParse(reply.data);
    // A chat that does not know unread_of answered something else: each asks for itself.
    if (!parsed.success) return Promise.all(items.map(one));
    const counts = parsed.data.part.unread_counts;
    return items.map(({ ctx }) => {
      const n = counts[String(ctx.user_id)];
      return n === undefined ? { ok: false, error: NOT_A_MEMBER } : { ok: true, unread: n };
    });
  }
}

/**
 * `snapshot` with `unread` as the chat's unread count (the joiner's own, read for itself): what a
 * sharer's join reply holds. The reply is written by encodeJoinReply without this copy; its test
 * checks the two agree.
 */
export function withOwnUnread(snapshot: RoomSnapshot, unread: number): RoomSnapshot {
  return { ...snapshot, chat: { ...snapshot.chat, unread_count: unread } };
}

/**
 * The room as of now, asked of every service in parallel. A service that does not answer fails the
 * whole join with its error (`unavailable`): never a room with a silent hole.
 */
export async function readRoomSnapshot(
  nats: NatsConnection,
  ctx: CommandContext,
  timeoutMs: number,
  logger?: ServiceFailureLogger,
  timer?: RequestTimer,
): Promise<RoomSnapshotResult> {
  const [documents, presence, chat, checklist] = await Promise.all([
    part(nats, 'documents', DocumentsServiceSnapshot, ctx, timeoutMs, logger, timer),
    part(nats, 'presence', PresenceServiceSnapshot, ctx, timeoutMs, logger, timer),
    part(nats, 'chat', ChatServiceSnapshot, ctx, timeoutMs, logger, timer),
    part(nats, 'checklist', ChecklistServiceSnapshot, ctx, timeoutMs, logger, timer),
  ]);
  for (const p of [documents, presence, chat, checklist]) if (!p.ok) return { ok: false, error: p.error };
  if (!documents.ok || !presence.ok || !chat.ok || !checklist.ok) throw new Error('unreachable');
  return {
    ok: true,
    snapshot: {
      project: documents.value.part.project,
      documents: documents.value.part.documents,
      checklist: checklist.value.part,
      chat: chat.value.part,
      members_last_seen: presence.value.part.last_seen,
    },
    presence: presence.value.part.state,
    versions: { ...documents.value.versions, ...presence.value.versions, ...chat.value.versions, ...checklist.value.versions },
  };
}
