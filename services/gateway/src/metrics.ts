import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isProjectClientEvent } from '@siteflow/contracts';
import type { RoomStats } from './rooms/rooms.js';

/** Latency buckets in seconds, from a quick reply (1 ms) to past the push and snapshot timeouts. */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the gateway's gauges read on each scrape. */
export interface GatewayMetricSources {
  sockets(): Iterable<{ readonly joinedTopicCount: number; readonly bufferedBytes: number }>;
  rooms(): RoomStats;
}

/**
 * The gateway's Prometheus metrics, in a registry of its own. Every label value comes from a closed
 * set (event names from the route table, outcomes from the error codes, subjects from the route
 * table and the gateway's own fixed subjects), never from what a client sent: a topic, token or id
 * never becomes a label.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #joins: Histogram<'outcome'>;
  readonly #pushes: Counter<'event' | 'outcome'>;
  readonly #pushSeconds: Histogram<'event' | 'outcome'>;
  readonly #requests: Histogram<'subject' | 'outcome'>;
  readonly #framesSent: Counter;
  readonly #slowConsumers: Counter;
  readonly #rateLimited: Counter;

  constructor() {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ service: 'gateway' });
    collectDefaultMetrics({ register: this.registry });
    this.#joins = new Histogram({
      name: 'siteflow_gateway_join_duration_seconds',
      help: 'Topic joins, by outcome (ok, an error code, or superseded), from phx_join to its reply',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.#pushes = new Counter({
      name: 'siteflow_gateway_pushes_total',
      help: 'Client pushes answered, by event and outcome (ok or an error code)',
      labelNames: ['event', 'outcome'],
      registers,
    });
    this.#pushSeconds = new Histogram({
      name: 'siteflow_gateway_push_duration_seconds',
      help: 'Client pushes, from the frame to its phx_reply, by event and outcome',
      labelNames: ['event', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.#requests = new Histogram({
      name: 'siteflow_gateway_nats_request_duration_seconds',
      help: 'NATS requests to services, by subject and outcome',
      labelNames: ['subject', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.#framesSent = new Counter({
      name: 'siteflow_gateway_frames_sent_total',
      help: 'Frames written to sockets (replies, pushes, broadcasts)',
      registers,
    });
    this.#slowConsumers = new Counter({
      name: 'siteflow_gateway_slow_consumers_closed_total',
      help: 'Sockets closed because their unsent data passed MAX_BUFFERED_BYTES',
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'siteflow_gateway_rate_limited_frames_total',
      help: 'Frames refused by the per-socket rate limit',
      registers,
    });
  }

  /** Families read from the running gateway on each scrape. */
  watch(sources: GatewayMetricSources): void {
    const registers = [this.registry];
    const socketTotals = () => {
      let sockets = 0;
      let topics = 0;
      let buffered = 0;
      for (const s of sources.sockets()) {
        sockets++;
        topics += s.joinedTopicCount;
        buffered += s.bufferedBytes;
      }
      return { sockets, topics, buffered };
    };
    new Gauge({
      name: 'siteflow_gateway_open_sockets',
      help: 'Open WebSocket connections',
      registers,
      collect() {
        this.set(socketTotals().sockets);
      },
    });
    new Gauge({
      name: 'siteflow_gateway_joined_topics',
      help: 'Topics joined, summed over sockets',
      registers,
      collect() {
        this.set(socketTotals().topics);
      },
    });
    new Gauge({
      name: 'siteflow_gateway_buffered_bytes',
      help: 'Data written to sockets and not yet sent, summed over sockets',
      registers,
      collect() {
        this.set(socketTotals().buffered);
      },
    });
    new Gauge({
      name: 'siteflow_gateway_rooms',
      help: 'Topics with a projection subscription on this gateway',
      registers,
      collect() {
        this.set(sources.rooms().rooms);
      },
    });
    new Gauge({
      name: 'siteflow_gateway_room_members',
      help: 'Joins in rooms, summed over rooms',
      registers,
      collect() {
        this.set(sources.rooms().members);
      },
    });
    // The rooms count these themselves (RoomStats); a scrape adds what changed since the last one.
    const counted = (name: string, help: string, read: (s: RoomStats) => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const n = read(sources.rooms());
          if (n > seen) this.inc(n - seen);
          seen = n;
        },
      });
    };
    counted('siteflow_gateway_deliveries_total', 'Projections written to a member socket', (s) => s.delivered);
    counted(
      'siteflow_gateway_projection_duplicates_dropped_total',
      "Projections dropped as already seen (the relay's copy of what a fast copy delivered, relay re-publications)",
      (s) => s.duplicatesDropped,
    );
    counted(
      'siteflow_gateway_fast_copies_delivered_total',
      "Stored events delivered from the service's fast copy, before the relay's",
      (s) => s.fastDelivered,
    );
    counted(
      'siteflow_gateway_fast_copies_skipped_total',
      "Fast copies not taken (not the next version of a stream the room had heard): delivered from the relay's copy",
      (s) => s.fastSkipped,
    );
    counted(
      'siteflow_gateway_projection_gaps_total',
      'Projections that skipped stream versions on a topic (often harmless: some go to user topics)',
      (s) => s.gaps,
    );
    counted(
      'siteflow_gateway_snapshot_reads_total',
      'Room snapshot reads a join started (one request to each service)',
      (s) => s.snapshotReads,
    );
    counted(
      'siteflow_gateway_snapshot_reads_shared_total',
      'Joins served by a snapshot read another join of the room had started',
      (s) => s.snapshotReadsShared,
    );
  }

  /** `event` becomes a label only when it is in the route table. */
  observePush(event: string, outcome: string, seconds: number): void {
    const labels = { event: isProjectClientEvent(event) ? event : 'unknown', outcome };
    this.#pushes.inc(labels);
    this.#pushSeconds.observe(labels, seconds);
  }

  observeJoin(outcome: string, seconds: number): void {
    this.#joins.observe({ outcome }, seconds);
  }

  /** `subject` must come from a fixed set (the route table, the gateway's own subjects), never a client. */
  observeRequest(subject: string, outcome: string, seconds: number): void {
    this.#requests.observe({ subject, outcome }, seconds);
  }

  frameSent(): void {
    this.#framesSent.inc();
  }

  slowConsumerClosed(): void {
    this.#slowConsumers.inc();
  }

  frameRateLimited(): void {
    this.#rateLimited.inc();
  }
}

/** Seconds since `started` (a performance.now() reading). */
export function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}
