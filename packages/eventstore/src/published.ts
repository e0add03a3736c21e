import type { PublishedEvent } from '@siteflow/contracts';
import type { RecordedEvent } from './types.js';

/** What the relay publishes for an event (the PublishedEvent contract). */
export function toPublishedEvent(e: RecordedEvent): PublishedEvent {
  return {
    event_id: e.eventId,
    type: e.type,
    stream_id: e.streamId,
    version: e.version,
    global_position: e.globalPosition,
    project_id: e.projectId,
    occurred_at: e.occurredAt.toISOString(),
    data: e.data,
    broadcast: e.broadcast,
  };
}
