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

/** Every command request on NATS: the context plus the client's (already validated) payload. */
export function commandRequest<T extends z.ZodType>(payload: T) {
  return z.object({ ctx: CommandContext, payload });
}
export type CommandRequest<P> = { ctx: CommandContext; payload: P };
