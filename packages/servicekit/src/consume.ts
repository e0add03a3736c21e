import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { streamFor, type ServiceName } from '@siteflow/contracts';
import { ensureStream } from '@siteflow/eventstore';
import type { z } from 'zod';
import type { ServiceKit } from './kit.js';

export interface EventConsumerOptions<S extends z.ZodType> {
  /** Whose events: that service's stream. */
  from: ServiceName;
  /** Durable consumer name, shared by every instance of the consuming service. */
  durable: string;
  filterSubject: string;
  /** What the handler reads of a published event. */
  schema: S;
  /** Must be idempotent: a redelivery after a crash or a nak runs it again. */
  handle: (event: z.infer<S>) => Promise<void>;
  /** How long a failed event waits before it is redelivered. */
  retryDelayMs?: number;
}

/**
 * A cross-service reaction: a durable JetStream consumer with explicit acks, so any number of
 * instances share the work and nothing is lost while the service is down. A malformed event is
 * terminated (never retried); a failing handler is nak'ed and redelivered. Restarts itself.
 */
export function consumeEvents<S extends z.ZodType>(kit: ServiceKit<any>, opts: EventConsumerOptions<S>): { stop(): Promise<void> } {
  const log = kit.logger.child({ component: opts.durable });
  let messages: ConsumerMessages | null = null;
  let stopped = false;
  const run = async () => {
    while (!stopped) {
      try {
        const stream = streamFor(opts.from);
        const jsm = await jetstreamManager(kit.nats);
        // The producing service may not have created its stream yet; the config is the one it uses.
        await ensureStream(jsm, stream);
        await jsm.consumers.add(stream.name, {
          durable_name: opts.durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: opts.filterSubject,
          ack_wait: 30_000_000_000, // nanoseconds: 30 s
        });
        const consumer = await jetstream(kit.nats).consumers.get(stream.name, opts.durable);
        messages = await consumer.consume();
        if (stopped) {
          await messages.close();
          break;
        }
        for await (const m of messages) {
          const parsed = opts.schema.safeParse(safeJson(m.data));
          if (!parsed.success) {
            log.warn({ subject: m.subject }, 'malformed event; skipped');
            m.term();
            continue;
          }
          try {
            await opts.handle(parsed.data);
            m.ack();
          } catch (err) {
            log.error({ err, subject: m.subject }, 'handling failed; retrying');
            m.nak(opts.retryDelayMs ?? 1_000);
          }
        }
        if (!stopped) log.warn('consumer ended; starting again');
      } catch (err) {
        if (stopped) break;
        log.warn({ err }, 'consumer failed; starting again');
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 1_000));
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

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
}
