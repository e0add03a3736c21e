import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { subjects } from '@siteflow/contracts';
import { toPublishedEvent, type RecordedEvent } from '@siteflow/eventstore';
import { injectHeaders, tracingEnabled } from '@siteflow/telemetry';

export interface FastCopyStats {
  published: number;
  /** Events over `maxBytes`: left to the relay alone. */
  tooLarge: number;
  /** Publishes that threw (connection closed or draining): left to the relay alone. */
  failed: number;
}

/**
 * The service's fast copy of what it just committed (docs/event-store.md, "Fast copies"): each
 * event, as the relay will publish it (the same `PublishedEvent`), on core NATS at once on its
 * `now` subject (`subjects.fastCopy`), so a gateway can deliver it without waiting for the relay's
 * pick-up and JetStream's store-and-acknowledge. Nothing depends on it arriving: the relay's copy
 * follows on `ev` whatever happens here, and gateways take a fast copy only as the next version of
 * a stream they have heard (docs/consistency.md, rule 10). Never throws into the command.
 */
export function fastCopyPublisher(opts: {
  nats: NatsConnection;
  subjectFor: (e: RecordedEvent) => string;
  /** Events whose JSON is larger are not copied (a document's save): 0 = no fast copies at all. */
  maxBytes: number;
  /** Whether an event is published at all (as the relay's `publishes`): one that is not gets no copy either. */
  publishes?: (e: RecordedEvent) => boolean;
  logger: Logger;
}): { publish: (events: readonly RecordedEvent[]) => void; stats: FastCopyStats } {
  const encoder = new TextEncoder();
  const stats: FastCopyStats = { published: 0, tooLarge: 0, failed: 0 };
  const publish = (events: readonly RecordedEvent[]) => {
    if (opts.maxBytes === 0) return;
    for (const e of events) {
      if (opts.publishes && !opts.publishes(e)) continue;
      const json = JSON.stringify(toPublishedEvent(e));
      // A string's UTF-8 bytes are at least its length: one that long is over the bound unencoded
      // (a document's save, 256 KiB of it, is not encoded only to be left to the relay).
      const data = json.length > opts.maxBytes ? null : encoder.encode(json);
      if (data === null || data.length > opts.maxBytes) {
        stats.tooLarge++;
        continue;
      }
      try {
        const subject = subjects.fastCopy(opts.subjectFor(e));
        if (tracingEnabled()) {
          // The command's context (its handler span): the gateway's fan-out continues its trace.
          const headers = natsHeaders();
          injectHeaders(headers);
          opts.nats.publish(subject, data, { headers });
        } else {
          opts.nats.publish(subject, data);
        }
        stats.published++;
      } catch (err) {
        stats.failed++;
        opts.logger.debug({ err, event_id: e.eventId }, 'fast copy not published (the relay publishes the event)');
      }
    }
  };
  return { publish, stats };
}
