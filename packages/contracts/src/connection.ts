import { z } from 'zod';
import { ConnectionId, ProjectId, UserId } from './ids.js';

/**
 * Published by a gateway on `gateway.connection.closed` (core NATS) when a socket closes: services
 * release what the connection held (documents its edit locks, chat its typing state). A gateway
 * that dies publishes nothing; presence evicts its connections instead (`ConnectionEvicted`).
 */
export const ConnectionClosedNotice = z.object({
  connection_id: ConnectionId,
  user_id: UserId,
  /** The projects whose `project:<id>` topic the socket had joined. */
  project_ids: z.array(ProjectId),
});
export type ConnectionClosedNotice = z.infer<typeof ConnectionClosedNotice>;
