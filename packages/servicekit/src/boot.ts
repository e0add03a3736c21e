import 'reflect-metadata';
import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MicroserviceOptions } from '@nestjs/microservices';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { streamFor, subjects, type ServiceName } from '@siteflow/contracts';
import {
  createEventStore,
  databaseUnavailableReason,
  createPostgresPool,
  JetStreamNotReadyError,
  startOutboxRelay,
  type Migration,
  type OutboxRelay,
  type RecordedEvent,
} from '@siteflow/eventstore';
import { connectNats, natsOptionsFromUrl } from '@siteflow/messaging';
import { startTracing } from '@siteflow/telemetry';
import { BaseServiceConfig, loadConfig } from './config.js';
import { DrainingServerNats } from './draining-server.js';
import { fastCopyPublisher } from './fast-copies.js';
import { limitCommands } from './handle.js';
import { healthController } from './health.js';
import { InflightInterceptor, InflightRequests } from './inflight.js';
import { DeadLetterCounter, ServiceKitModule, type ServiceKit } from './kit.js';
import { createLogger, PinoNestLogger } from './logger.js';
import { ServiceMetrics, type MetricsServer } from './metrics.js';
import { TracingInterceptor } from './tracing.js';

export interface ServiceDefinition<C extends BaseServiceConfig> {
  name: ServiceName;
  /** The service's feature modules (controllers and providers). */
  modules: Array<Type<unknown> | DynamicModule>;
  /** Read-model migrations of the service's schema, applied in id order after the core tables. */
  migrations: Migration[];
  configSchema?: z.ZodType<C>;
  /**
   * Event types kept in the service's store only: neither relayed to JetStream nor fast-copied
   * (presence's session events: its own bookkeeping, which every gateway of the room received and
   * dropped). Nothing outside the service can consume them; list only what no other process reads.
   */
  privateEvents?: readonly string[];
}

export interface RunningService<C extends BaseServiceConfig = BaseServiceConfig> {
  kit: ServiceKit<C>;
  stop(): Promise<void>;
}

/**
 * EX_UNAVAILABLE: JetStream did not become ready within the bounded wait (a cluster that never
 * formed a meta leader, say). A supervisor starts the service again; unlike a refused
 * configuration (78), trying again can help.
 */
export const EXIT_JETSTREAM_NOT_READY = 69;

/** Ends the process with a clear line and EXIT_JETSTREAM_NOT_READY when `err` is JetStream not becoming ready; rethrows anything else. */
function exitIfJetStreamNotReady(logger: Logger) {
  return (err: unknown): never => {
    if (!(err instanceof JetStreamNotReadyError)) throw err; // a refusal or anything else: as before
    logger.fatal({ err }, `${err.message}; exiting with ${EXIT_JETSTREAM_NOT_READY} so that it is started again`);
    return process.exit(EXIT_JETSTREAM_NOT_READY);
  };
}

/** Exit status when Postgres stayed unreachable through DB_BOOT_WAIT_MS at boot (EX_UNAVAILABLE: start it again). */
export const EXIT_POSTGRES_UNAVAILABLE = 69;

/**
 * The boot's first use of Postgres (the migration), tried again while Postgres cannot be reached
 * (a pod started before its database, a service run by hand with Postgres down), saying so, for up
 * to `waitMs`; then one clear fatal line and exit 69 instead of an uncaught exception. Any other
 * failure (a migration that does not apply) is thrown as before.
 */
async function migrateOncePostgresAnswers(migrate: () => Promise<void>, waitMs: number, logger: Logger): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate();
      return;
    } catch (err) {
      const reason = databaseUnavailableReason(err);
      if (reason === null) throw err;
      const waited = Date.now() - started;
      if (waited >= waitMs) {
        logger.fatal(
          { err, code: 'postgres_unavailable', reason, waitedMs: waited },
          `Postgres could not be reached within ${waitMs} ms (${reason}); exiting with ${EXIT_POSTGRES_UNAVAILABLE} so that it is started again`,
        );
        return process.exit(EXIT_POSTGRES_UNAVAILABLE);
      }
      const retryInMs = Math.min(5_000, 250 * 2 ** Math.min(attempt, 5), Math.max(0, waitMs - waited));
      logger.warn({ code: 'postgres_unavailable', reason, attempt, retryInMs }, `Postgres cannot be reached yet (${reason}); trying again`);
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}

/** Where a stored event is published: per project, or per user for user-level events. */
export function defaultSubjectFor(service: ServiceName) {
  return (e: RecordedEvent): string => {
    if (e.projectId !== null) return subjects.projectEvent(e.projectId, service, e.type);
    if (e.userId != null) return subjects.userEvent(e.userId, service, e.type);
    throw new Error(`event ${e.eventId} (${e.type}) has neither a project nor a user`);
  };
}

/**
 * Boots a NestJS service the one way all of ours boot: config from env (zod), pino logs, the
 * service's Postgres schema migrated, the outbox relay running, Nest's NATS transport in a queue
 * group named after the service, a health subject, and a graceful stop on SIGTERM/SIGINT.
 */
export async function bootService<C extends BaseServiceConfig>(def: ServiceDefinition<C>): Promise<RunningService<C>> {
  const config = loadConfig((def.configSchema ?? BaseServiceConfig) as z.ZodType<C>);
  const logger = await createLogger(def.name, config.LOG_LEVEL, config.INSTANCE_ID, config.LOG_FORMAT);
  // Spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is loaded.
  const tracing = await startTracing({ service: def.name, instance: config.INSTANCE_ID, logger }).catch((err: unknown) => {
    process.stderr.write(`invalid configuration: ${err instanceof Error ? err.message : String(err)}\n`);
    return process.exit(78);
  });
  // Before anything appends or handles a command: the hooks count from the first one.
  const metrics = new ServiceMetrics(def.name);
  const pool = createPostgresPool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_SIZE,
    min: config.DB_POOL_MIN,
    idleTimeoutMs: config.DB_POOL_IDLE_MS,
    applicationName: def.name,
    timeouts: {
      connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
      idleInTransactionTimeoutMs: config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      keepAliveIdleMs: config.DB_KEEPALIVE_IDLE_MS,
    },
    logger: logger.child({ component: 'postgres' }),
  });
  pool.on('error', (err) => logger.warn({ err }, 'an idle Postgres connection failed; it is discarded'));

  // Set once NATS is connected; commits before that (none: Nest serves commands later) copy nothing.
  let fastCopies: ((events: readonly RecordedEvent[]) => void) | null = null;
  const store = createEventStore({
    pool,
    schema: def.name,
    logger,
    migrationTimeoutMs: config.DB_MIGRATION_TIMEOUT_MS,
    afterCommit: (events) => fastCopies?.(events),
  });
  await migrateOncePostgresAnswers(() => store.migrate(def.migrations), config.DB_BOOT_WAIT_MS, logger);

  const nats = await connectNats(config.NATS_URL, `${def.name}:${config.INSTANCE_ID}`);
  const privateEvents = new Set(def.privateEvents ?? []);
  const publishes = (e: RecordedEvent) => !privateEvents.has(e.type);
  fastCopies = fastCopyPublisher({
    nats,
    subjectFor: defaultSubjectFor(def.name),
    maxBytes: config.FAST_COPY_MAX_BYTES,
    publishes,
    logger,
  }).publish;
  const deadLetters = new DeadLetterCounter();
  const relay: OutboxRelay = await startOutboxRelay({
    store,
    nats,
    logger, // the relay names its own component
    stream: streamFor(def.name),
    onDeadLetter: () => deadLetters.inc('outbox'),
    streamLimits: { maxBytes: config.STREAM_MAX_BYTES, maxAgeMs: config.STREAM_MAX_AGE_MS, replicas: config.JETSTREAM_REPLICAS },
    subjectFor: defaultSubjectFor(def.name),
    publishes,
    heldBackWarnMs: config.OUTBOX_HELD_BACK_WARN_MS,
  }).catch(exitIfJetStreamNotReady(logger));
  const encoder = new TextEncoder();
  const kit: ServiceKit<C> = {
    name: def.name,
    config,
    logger,
    pool,
    store,
    nats,
    startedAt: Date.now(),
    publishEphemeral(subject, message) {
      nats.publish(subject, encoder.encode(JSON.stringify(message)));
    },
    flushOutbox: (timeoutMs) => relay.flush(timeoutMs),
    deadLetters,
    metrics,
    durableConsumers: new Map(),
  };
  metrics.watch({ pool, store, nats, relay, deadLetters, consumers: kit.durableConsumers, logger });
  let metricsServer: MetricsServer | null = null;
  if (config.METRICS_PORT > 0) {
    metricsServer = await metrics.serve(config.METRICS_PORT, '0.0.0.0', logger);
    logger.info({ metrics: `http://0.0.0.0:${metricsServer.port}/metrics` }, 'metrics served');
  }

  @Module({
    imports: [ServiceKitModule.register(kit), ...def.modules],
    controllers: [healthController(def.name)],
  })
  // eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module is an empty decorated class by design
  class ServiceRootModule {}

  limitCommands({ maxConcurrent: config.MAX_CONCURRENT_COMMANDS, maxQueued: config.MAX_QUEUED_COMMANDS });
  const inflight = new InflightRequests();
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- Nest declares its options as a class but reads them as a plain object (its own docs pass a literal)
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(ServiceRootModule, {
    strategy: new DrainingServerNats(
      {
        ...natsOptionsFromUrl(config.NATS_URL),
        queue: def.name,
        name: `${def.name}-rpc:${config.INSTANCE_ID}`,
        maxReconnectAttempts: -1,
        noAsyncTraces: true,
      },
      inflight,
      config.SHUTDOWN_TIMEOUT_MS,
    ),
    logger: new PinoNestLogger(logger),
    bufferLogs: false,
  });
  app.useGlobalInterceptors(new InflightInterceptor(inflight), new TracingInterceptor());
  await app.listen().catch(exitIfJetStreamNotReady(logger)); // the modules' init may wait for JetStream too (the presence bucket)
  logger.info({ queue: def.name }, `${def.name} service listening`);

  let stopping: Promise<void> | null = null;
  // Idempotency keys are kept for IDEMPOTENCY_KEY_TTL_MS: a retry comes within seconds or minutes.
  const pruneOutcomes = setInterval(
    () => {
      store
        .pruneOutcomes(config.IDEMPOTENCY_KEY_TTL_MS)
        .catch((err: unknown) => logger.warn({ err }, 'pruning idempotency keys failed; trying again later'));
    },
    Math.min(600_000, config.IDEMPOTENCY_KEY_TTL_MS),
  );
  pruneOutcomes.unref();

  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ inflight: inflight.size }, 'stopping');
      clearInterval(pruneOutcomes);
      await app.close(); // unsubscribes, waits for requests in flight, flushes replies
      try {
        await relay.flush(2_000);
      } catch {
        // whatever is left is published by the next leader; the outbox never loses it
      }
      await relay.stop();
      await nats.drain().catch(() => undefined);
      await pool.end();
      await metricsServer?.close();
      await tracing.shutdown();
      logger.info('stopped');
    })());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'unclean stop');
          process.exit(1);
        },
      );
    });
  }
  return { kit, stop };
}
