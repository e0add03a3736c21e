import { z } from 'zod';
import { ProjectId } from './ids.js';

/**
 * What the gateway pushes to a topic for a projection. `exclude_connection_id` skips one socket.
 * `payload_from_data` (stored events only): payload fields the gateway fills from the event's
 * `data`, payload key → data key, added after `payload`'s own, so a large field (a saved document's
 * content) is stored, published and parsed once instead of twice. Clients see the whole payload.
 */
export const Broadcast = z.object({
  event: z.string().min(1),
  payload: z.record(z.string(), z.unknown()),
  exclude_connection_id: z.string().optional(),
  payload_from_data: z.record(z.string(), z.string()).optional(),
});
export type Broadcast = z.infer<typeof Broadcast>;

/**
 * A stored event as published by a service's outbox relay (JetStream, `Nats-Msg-Id` = event_id).
 * `stream_id` + `version` let receivers drop duplicates and see gaps; `broadcast` is what the
 * gateway forwards to clients (null for events clients never see).
 */
export const PublishedEvent = z.object({
  event_id: z.uuid(),
  type: z.string(),
  stream_id: z.string(),
  version: z.number().int().min(1),
  global_position: z.number().int().min(1),
  project_id: ProjectId.nullable(),
  occurred_at: z.string(),
  data: z.record(z.string(), z.unknown()),
  broadcast: Broadcast.nullable(),
});
export type PublishedEvent = z.infer<typeof PublishedEvent>;

/** An ephemeral broadcast (typing…): never stored, no version. */
export const EphemeralMessage = z.object({ broadcast: Broadcast });
export type EphemeralMessage = z.infer<typeof EphemeralMessage>;
