import type { NatsConnection } from '@nats-io/transport-node';
import {
  ChatServiceSnapshot,
  ChatUnreadServiceSnapshot,
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

/** Times a request (GatewayMetrics: siteflow_gateway_nats_request_duration_seconds, by subject and outcome). */
export interface RequestTimer {
  observeRequest(subject: string, outcome: string, seconds: number): void;
}

async function timed(
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
): Promise<{ ok: true; unread: number } | { ok: false; error: ErrorBody }> {
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

/** `result`'s room with `unread` as the chat's unread count (the joiner's own, read for itself). */
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
