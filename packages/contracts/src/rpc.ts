import { z } from 'zod';
import { ErrorBody } from './errors.js';

/**
 * Nest's NATS packet format, spoken by the gateway (which is not a Nest app) and checked on both
 * ends. A request is `{pattern, data, id}`; the reply is `{id, response | err, isDisposed}`.
 */
export const NestRequestPacket = z.object({
  pattern: z.string(),
  data: z.unknown(),
  id: z.string(),
});
export type NestRequestPacket = z.infer<typeof NestRequestPacket>;

export const NestReplyPacket = z.object({
  id: z.string(),
  response: z.unknown().optional(),
  err: z.unknown().optional(),
  status: z.string().optional(),
  isDisposed: z.boolean().optional(),
});
export type NestReplyPacket = z.infer<typeof NestReplyPacket>;

/** Every service reply: `{ok: true, data}` or `{ok: false, error: {code, message}}`. */
export const ReplyEnvelope = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorBody }),
]);
export type ReplyEnvelope<T = unknown> = { ok: true; data: T } | { ok: false; error: ErrorBody };

/**
 * What a service's health subject answers. Ready (`status: 'ok'`) is `{ok: true, data}`; not ready
 * is `{ok: false, error: {code: 'unavailable', message, details}}` with this reply as the details,
 * so that a caller looking only at `ok` is not told a service without its database is fine.
 */
export const HealthReply = z.object({
  service: z.string(),
  instance: z.string(),
  status: z.enum(['ok', 'not_ready']),
  /** Each dependency: `postgres`, `nats`, `stream` (the service's JetStream stream). */
  checks: z.record(z.string(), z.enum(['ok', 'failing'])),
  /** Why each failing check failed, for people. */
  reasons: z.record(z.string(), z.string()).optional(),
  uptime_s: z.number(),
});
export type HealthReply = z.infer<typeof HealthReply>;
