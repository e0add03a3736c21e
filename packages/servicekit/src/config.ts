import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_POOL_IDLE_TIMEOUT_MS, DEFAULT_POOL_MIN } from '@siteflow/eventstore';
import { booleanFlag } from '@siteflow/messaging';

const ms = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** Settings every service reads from its environment. */
export const BaseServiceConfig = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  DATABASE_URL: z.url(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `json` or `pretty` (readable lines); unset, pretty on a terminal and JSON otherwise (npm start, containers). */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  INSTANCE_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
  SEED_DEMO: booleanFlag.default(false),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  /** Postgres connections the pool keeps open while idle, once opened (at most DB_POOL_SIZE). */
  DB_POOL_MIN: z.coerce.number().int().min(0).max(100).default(DEFAULT_POOL_MIN),
  /** A connection above DB_POOL_MIN unused this long is closed. */
  DB_POOL_IDLE_MS: ms(1_000, 3_600_000, DEFAULT_POOL_IDLE_TIMEOUT_MS),
  /** How long a stopping service waits for requests in flight. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
  // Bounds on every Postgres connection (eventstore's PostgresTimeouts); 0 is not allowed: unbounded
  // is what they are there to prevent.
  DB_CONNECT_TIMEOUT_MS: ms(100, 60_000, 5_000),
  DB_STATEMENT_TIMEOUT_MS: ms(100, 600_000, 10_000),
  DB_QUERY_TIMEOUT_MS: ms(100, 600_000, 15_000),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: ms(100, 600_000, 10_000),
  DB_KEEPALIVE_IDLE_MS: ms(1_000, 600_000, 10_000),
  DB_MIGRATION_TIMEOUT_MS: ms(1_000, 3_600_000, 600_000),
  /** At boot, how long Postgres may stay unreachable (tried again and again) before the service exits 69. */
  DB_BOOT_WAIT_MS: ms(0, 3_600_000, 120_000),
  /** The service's JetStream stream: bytes it may hold (oldest dropped when full; Postgres keeps everything). 0 = no bound. */
  STREAM_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(1024 * 1024 * 1024),
  /** …and how long an event stays in it. 0 = no bound (a new durable consumer can then replay every event). */
  STREAM_MAX_AGE_MS: z.coerce.number().int().min(0).default(0),
  /** Commands this process runs at once; more wait their turn (until their caller's deadline). */
  MAX_CONCURRENT_COMMANDS: z.coerce.number().int().min(1).max(10_000).default(32),
  /** Commands that may wait for a turn; beyond that one is refused at once (`unavailable`, retry after 1 s). */
  MAX_QUEUED_COMMANDS: z.coerce.number().int().min(0).max(100_000).default(512),
  /** Copies of the service's stream (and presence's bucket) on a NATS cluster; at most its nodes (npm run cluster: 3). */
  JETSTREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** How long a command's idempotency key (and its outcome) is kept: a retry after this runs again. */
  IDEMPOTENCY_KEY_TTL_MS: ms(60_000, 30 * 86_400_000, 86_400_000),
  /** Port of the process's own HTTP server for `GET /metrics` (Prometheus); 0 = no metrics server. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(0),
  /**
   * Project members (pairs user, project) each process remembers, forgetting each on its members
   * table's NOTIFY (servicekit membership-cache.ts); 0 = none: every membership check reads the table.
   */
  MEMBERSHIP_CACHE_ENTRIES: z.coerce.number().int().min(0).max(10_000_000).default(100_000),
  /**
   * Fast copies (docs/event-store.md): events whose JSON is at most this many bytes are also
   * published on core NATS right after their commit, for gateways to deliver before the relay's
   * copy arrives. 0 = off (every delivery waits for the relay).
   */
  FAST_COPY_MAX_BYTES: z.coerce.number().int().min(0).max(1_000_000).default(65_536),
  /** The outbox relay warns when committed events wait longer than this behind an open transaction. */
  OUTBOX_HELD_BACK_WARN_MS: ms(100, 3_600_000, 10_000),
});
export type BaseServiceConfig = z.infer<typeof BaseServiceConfig>;

// The one config loader, shared with the gateway (packages/messaging/src/config.ts).
export { booleanFlag, loadConfig, parseConfig } from '@siteflow/messaging';
