import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { streamFor, type ServiceName } from '@siteflow/contracts';
import { observeAppends, observeTransactions, readOutboxLag, type EventStore } from '@siteflow/eventstore';
import { observeCommands } from './handle.js';
import type { DeadLetterCounter } from './kit.js';

/** Latency buckets in seconds, from a fast command (1 ms) to the gateway's push timeout and beyond. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Buckets of a transaction's parts, in seconds: finer than LATENCY_BUCKETS_SECONDS at the low end,
 * where a round trip to a nearby Postgres (a few hundred microseconds) and a pool wait lie.
 */
export const TRANSACTION_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How long a scrape reuses durable consumers' info: each read is a JetStream API request per consumer. */
const CONSUMER_INFO_MAX_AGE_MS = 5_000;

/** What the service metrics read on each scrape. */
export interface ServiceMetricSources {
  pool: Pool;
  store: EventStore;
  nats: NatsConnection;
  relay: { readonly isLeader: boolean };
  deadLetters: DeadLetterCounter;
  /** Durable consumers this instance runs: name → the service whose stream it reads. */
  consumers: ReadonlyMap<string, ServiceName>;
  logger: Logger;
}

/**
 * A service process's Prometheus metrics: its own registry (the process's defaults, CPU, memory,
 * event-loop lag, included), commands and appends observed through handle() and the event store's
 * hooks, and gauges read from the pool, the outbox and JetStream when scraped. Services add their
 * own families to `registry`.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  constructor(readonly service: ServiceName) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    const commands = new Histogram({
      name: 'siteflow_command_duration_seconds',
      help: 'Commands handled, by NATS subject and outcome (ok or an error code), from request to reply',
      labelNames: ['command', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    const appends = new Histogram({
      name: 'siteflow_eventstore_append_duration_seconds',
      help: 'Event-store appends (claiming versions and inserting the events, inside the command transaction)',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    const appended = new Counter({
      name: 'siteflow_eventstore_appended_events_total',
      help: 'Events appended (committed or not)',
      registers: [this.registry],
    });
    // Where a store transaction's time went (eventstore's observeTransactions): "Postgres or us?".
    const transactionHelp =
      "(store.transaction: kind command; store.snapshot, a join's read: kind snapshot), by outcome (committed or rolled_back)";
    const transactions = new Histogram({
      name: 'siteflow_eventstore_transaction_duration_seconds',
      help: `Event-store transactions from asking the pool for a connection to releasing it ${transactionHelp}`,
      labelNames: ['kind', 'outcome'],
      buckets: TRANSACTION_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    const inPostgres = new Histogram({
      name: 'siteflow_eventstore_transaction_postgres_seconds',
      help: `Time a transaction had a statement outstanding on its connection: Postgres's work and the round trips' wake-ups ${transactionHelp}`,
      labelNames: ['kind', 'outcome'],
      buckets: TRANSACTION_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    const poolWait = new Histogram({
      name: 'siteflow_eventstore_transaction_pool_wait_seconds',
      help: `Time a transaction waited for the pool to hand out a connection ${transactionHelp}`,
      labelNames: ['kind', 'outcome'],
      buckets: TRANSACTION_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    const roundTrips = new Histogram({
      name: 'siteflow_eventstore_transaction_round_trips',
      help: `Round trips to Postgres a transaction made (statement preparations included) ${transactionHelp}`,
      labelNames: ['kind', 'outcome'],
      buckets: [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30],
      registers: [this.registry],
    });
    observeCommands((command, outcome, seconds) => commands.observe({ command, outcome }, seconds));
    observeTransactions((t) => {
      const labels = { kind: t.kind, outcome: t.committed ? 'committed' : 'rolled_back' };
      transactions.observe(labels, t.seconds);
      inPostgres.observe(labels, t.postgresSeconds);
      poolWait.observe(labels, t.poolWaitSeconds);
      roundTrips.observe(labels, t.roundTrips);
    });
    observeAppends((seconds, events) => {
      appends.observe(seconds);
      appended.inc(events);
    });
  }

  /** Families read from the running service on each scrape. */
  watch(sources: ServiceMetricSources): void {
    const { pool, store, relay, deadLetters, consumers, logger } = sources;
    const registers = [this.registry];
    new Gauge({
      name: 'siteflow_postgres_pool_connections',
      help: 'Postgres connections of this instance pool, by state (in_use, idle)',
      labelNames: ['state'],
      registers,
      collect() {
        this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
        this.set({ state: 'idle' }, pool.idleCount);
      },
    });
    new Gauge({
      name: 'siteflow_postgres_pool_waiting_requests',
      help: 'Queries waiting for a free pool connection',
      registers,
      collect() {
        this.set(pool.waitingCount);
      },
    });
    new Gauge({
      name: 'siteflow_outbox_relay_leader',
      help: 'Whether this instance outbox relay is the leader of its schema (1) or stands by (0)',
      registers,
      collect() {
        this.set(relay.isLeader ? 1 : 0);
      },
    });
    // One read of the outbox per scrape feeds both families.
    const streamName = streamFor(this.service).name;
    let lag: Promise<{ events: number; oldestAgeSeconds: number } | null> | null = null;
    const readLag = () =>
      (lag ??= readOutboxLag(store, streamName)
        .catch((err: unknown) => {
          logger.warn({ err }, 'metrics: could not read the outbox lag');
          return null;
        })
        .finally(() => setImmediate(() => (lag = null))));
    new Gauge({
      name: 'siteflow_outbox_lag_seconds',
      help: 'Age of the oldest committed event not yet published to JetStream (0: none waiting)',
      registers,
      async collect() {
        const l = await readLag();
        if (l) this.set(l.oldestAgeSeconds);
      },
    });
    new Gauge({
      name: 'siteflow_outbox_unpublished_events',
      help: 'Committed events not yet published to JetStream (counted up to 100000)',
      registers,
      async collect() {
        const l = await readLag();
        if (l) this.set(l.events);
      },
    });
    const seenDeadLetters = new Map<string, number>();
    new Counter({
      name: 'siteflow_dead_letters_total',
      help: 'Messages given up on (recorded in dead_letters) since start, by source: a durable consumer or the outbox',
      labelNames: ['source'],
      registers,
      collect() {
        for (const [source, n] of deadLetters.bySource) {
          const delta = n - (seenDeadLetters.get(source) ?? 0);
          if (delta > 0) this.inc({ source }, delta);
          seenDeadLetters.set(source, n);
        }
      },
    });
    const consumerInfo = new ConsumerInfoCache(sources.nats, consumers, logger);
    new Gauge({
      name: 'siteflow_consumer_pending_messages',
      help: 'Durable consumer: messages in its stream not yet delivered to it, plus those delivered and not yet acknowledged',
      labelNames: ['durable'],
      registers,
      async collect() {
        for (const [durable, info] of await consumerInfo.read()) this.set({ durable }, info.pending + info.ackPending);
      },
    });
    new Gauge({
      name: 'siteflow_consumer_redelivered_messages',
      help: 'Durable consumer: messages delivered more than once and not yet acknowledged',
      labelNames: ['durable'],
      registers,
      async collect() {
        for (const [durable, info] of await consumerInfo.read()) this.set({ durable }, info.redelivered);
      },
    });
  }

  /** Serves `GET /metrics` in the Prometheus text format on its own port; resolves once listening. */
  serve(port: number, host: string, logger: Logger): Promise<MetricsServer> {
    return serveMetrics(this.registry, port, host, logger);
  }
}

interface ConsumerCounts {
  pending: number;
  ackPending: number;
  redelivered: number;
}

/** Durable consumers' counts from JetStream, read at most every few seconds whatever the scrape rate. */
class ConsumerInfoCache {
  #readAt = 0;
  #reading: Promise<Map<string, ConsumerCounts>> | null = null;
  #last = new Map<string, ConsumerCounts>();
  #jsm: JetStreamManager | null = null;

  constructor(
    private readonly nats: NatsConnection,
    private readonly consumers: ReadonlyMap<string, ServiceName>,
    private readonly logger: Logger,
  ) {}

  read(): Promise<Map<string, ConsumerCounts>> {
    if (Date.now() - this.#readAt < CONSUMER_INFO_MAX_AGE_MS) return Promise.resolve(this.#last);
    return (this.#reading ??= this.#fetch().finally(() => (this.#reading = null)));
  }

  async #fetch(): Promise<Map<string, ConsumerCounts>> {
    const next = new Map<string, ConsumerCounts>();
    try {
      this.#jsm ??= await jetstreamManager(this.nats);
      for (const [durable, from] of this.consumers) {
        // A consumer not created yet (its producer's stream is missing) has no counts to show.
        const info = await this.#jsm.consumers.info(streamFor(from).name, durable).catch(() => null);
        if (info) next.set(durable, { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered });
      }
      this.#last = next;
      this.#readAt = Date.now();
    } catch (err) {
      this.logger.warn({ err }, 'metrics: could not read durable consumers');
    }
    return this.#last;
  }
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A minimal HTTP server for one registry: `GET /metrics` and nothing else, so a service needs no web
 * framework for it. Shared by every process that has no HTTP server of its own.
 */
export async function serveMetrics(registry: Registry, port: number, host: string, logger: Logger): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 'not_found', message: 'only GET /metrics here' }));
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        logger.error({ err }, 'metrics: collecting failed');
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ code: 'internal', message: 'collecting metrics failed' }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Services define their own families with these (no prom-client dependency of their own). */
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
