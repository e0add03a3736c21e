import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { streamFor, type ServiceName } from '@siteflow/contracts';
import { databaseUnavailableReason } from '@siteflow/eventstore';
import { safeJson } from '@siteflow/messaging';
import type { z } from 'zod';
import type { ServiceKit } from './kit.js';

export interface EventConsumerOptions<S extends z.ZodType> {
  /** Whose events: that service's stream. */
  from: ServiceName;
  /** Durable consumer name, shared by every instance of the consuming service. */
  durable: string;
  filterSubject: string;
  /**
   * The event types the handler reads, when the filter takes in more (a NATS before 2.10 has one
   * filter subject a consumer). An event of another type, told by its subject's last token
   * (`<scope>.<id>.ev.<service>.<Type>`), is acknowledged without being read: never parsed, never
   * a dead letter, however large or malformed.
   */
  types?: readonly string[];
  /** What the handler reads of a published event. */
  schema: S;
  /** Must be idempotent: a redelivery after a crash or a nak runs it again. */
  handle: (event: z.infer<S>) => Promise<void>;
  /** How long a failed event waits before it is redelivered. */
  retryDelayMs?: number;
  /** How long a delivered event may go unacknowledged before it is delivered again; default 30 s. */
  ackWaitMs?: number;
  /** Messages buffered per pull; default the client's. */
  maxMessages?: number;
  /**
   * Deliveries of one event that failed for a reason other than the database being away, after
   * which it is given up on as poison: recorded in the service's `dead_letters`, logged, and
   * terminated, so it no longer holds up the events behind it. Default 5.
   */
  maxFailures?: number;
}

/** The largest part of a poison message kept in `dead_letters`. */
const DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024;

/** Thrown (and retried) while the producing service has not created its stream yet. */
class StreamNotYetCreated extends Error {}

/**
 * A cross-service reaction: a durable JetStream consumer with explicit acks, so any number of
 * instances share the work and nothing is lost while the service is down. A malformed event is
 * terminated (never retried); a failing handler is nak'ed and redelivered. Restarts itself.
 *
 * It runs in the background and waits for the producer's stream rather than creating it: only a
 * stream's own service may create it (infra/nats/auth.conf), so a consumer that starts first never
 * decides the producer's stream settings. It delivers from the stream's start, so events the
 * producer stored before the consumer existed are not missed.
 */
export function consumeEvents<S extends z.ZodType>(kit: ServiceKit, opts: EventConsumerOptions<S>): { stop(): Promise<void> } {
  const log = kit.logger.child({ component: opts.durable });
  let messages: ConsumerMessages | null = null;
  let stopped = false;
  /** Read through a call: stop() sets `stopped` while run() awaits, which narrowing cannot see. */
  const isStopped = () => stopped;
  let waiting = false;
  const maxFailures = opts.maxFailures ?? 5;
  const types = opts.types ? new Set(opts.types) : null;
  kit.durableConsumers.set(opts.durable, opts.from);
  /** Records a poison message and terminates it; if it cannot be recorded now, it is redelivered. */
  const giveUp = async (m: JsMsg, reason: string) => {
    const position = `${m.info.stream}:${m.info.streamSequence}`;
    try {
      await kit.store.recordDeadLetter({
        source: opts.durable,
        subject: m.subject,
        position,
        reason,
        payload: Buffer.from(m.data.subarray(0, DEAD_LETTER_PAYLOAD_BYTES)).toString('utf8'),
      });
    } catch (err) {
      log.warn({ err, subject: m.subject, position }, 'could not record a dead letter; retrying the event');
      m.nak(opts.retryDelayMs ?? 1_000);
      return;
    }
    kit.deadLetters.inc(opts.durable);
    log.error({ subject: m.subject, position, durable: opts.durable, reason }, 'event given up on (dead letter): recorded in dead_letters');
    // No reason with the TERM: NATS before 2.10 takes `+TERM <reason>` for no acknowledgement at all
    // and delivers the event again after the ack wait, to be given up on again, forever. The
    // reason is in dead_letters and the log line above.
    m.term();
  };
  const run = async () => {
    while (!stopped) {
      try {
        const stream = streamFor(opts.from);
        const jsm = await jetstreamManager(kit.nats);
        await jsm.streams.info(stream.name).catch((err: unknown) => {
          if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new StreamNotYetCreated(stream.name);
          throw err;
        });
        const config = {
          durable_name: opts.durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: opts.filterSubject,
          ack_wait: (opts.ackWaitMs ?? 30_000) * 1_000_000, // nanoseconds
        };
        await jsm.consumers.add(stream.name, config).catch(async (err: unknown) => {
          // It exists with other settings (an earlier version made it): keep it, and its position.
          await jsm.consumers.info(stream.name, opts.durable).then(
            () => log.warn({ err }, 'the durable consumer exists with other settings; using it as it is'),
            () => {
              throw err;
            },
          );
        });
        const consumer = await jetstream(kit.nats).consumers.get(stream.name, opts.durable);
        messages = await consumer.consume(opts.maxMessages ? { max_messages: opts.maxMessages } : {});
        if (isStopped()) {
          await messages.close();
          break;
        }
        for await (const m of messages) {
          if (types && !types.has(m.subject.slice(m.subject.lastIndexOf('.') + 1))) {
            m.ack();
            continue;
          }
          const parsed = opts.schema.safeParse(safeJson(m.data));
          if (!parsed.success) {
            // Retrying cannot make it parse: a dead letter at once.
            await giveUp(m, 'malformed event: it does not match what this consumer reads');
            continue;
          }
          try {
            await opts.handle(parsed.data);
            m.ack();
          } catch (err) {
            // The database away is expected to pass (the event is redelivered, however long it takes);
            // anything else is a bug or a poison event, retried a few times and then given up on.
            const outage = databaseUnavailableReason(err);
            if (outage) {
              log.warn({ err, subject: m.subject }, `handling failed: ${outage}; retrying`);
              m.nak(opts.retryDelayMs ?? 1_000);
            } else if (m.info.deliveryCount >= maxFailures) {
              await giveUp(m, `handling failed ${m.info.deliveryCount} times: ${err instanceof Error ? err.message : String(err)}`);
            } else {
              log.error(
                { err, subject: m.subject, position: `${m.info.stream}:${m.info.streamSequence}`, delivery: m.info.deliveryCount },
                'handling failed; retrying',
              );
              m.nak(opts.retryDelayMs ?? 1_000);
            }
          }
        }
        if (!isStopped()) log.warn('consumer ended; starting again');
      } catch (err) {
        if (isStopped()) break;
        if (err instanceof StreamNotYetCreated) {
          if (!waiting) log.info({ stream: err.message }, 'waiting for the producing service to create its stream');
          waiting = true;
        } else {
          log.warn({ err }, 'consumer failed; starting again');
        }
      }
      if (!isStopped()) await new Promise((r) => setTimeout(r, 1_000));
    }
  };
  void run();
  return {
    async stop() {
      stopped = true;
      await messages?.close().catch(() => undefined);
    },
  };
}
