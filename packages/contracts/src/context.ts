import { z } from 'zod';
import { ConnectionId, ProjectId, Role, UserId } from './ids.js';

/**
 * Who and where, added by the gateway to every command it forwards. Services trust it because only
 * the gateway may publish on command subjects (see infra/nats).
 */
export const Actor = z.object({
  user_id: UserId,
  username: z.string().min(1).max(100),
  role: Role,
  avatar_url: z.string().max(500),
  connection_id: ConnectionId,
});
export type Actor = z.infer<typeof Actor>;

export const CommandContext = Actor.extend({ project_id: ProjectId });
export type CommandContext = z.infer<typeof CommandContext>;

/**
 * A key the client chooses for one command, so that a retry (after a timeout, an `unavailable`, a
 * lost connection) gets the first outcome instead of running again. Clients send it as
 * `idempotency_key` in a push's payload; the gateway passes it beside the payload. Keys are per user
 * and kept for a day.
 */
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, 'an idempotency key is 8 to 100 letters, digits, - or _');

/** Every command request on NATS: the context plus the client's (already validated) payload. */
export function commandRequest<T extends z.ZodType>(payload: T) {
  return z.object({ ctx: CommandContext, payload, idempotency_key: IdempotencyKey.optional() });
}
export type CommandRequest<P> = { ctx: CommandContext; payload: P; idempotency_key?: string };
