import pg from 'pg';
import type { Logger } from 'pino';

/** Bounds on every Postgres connection a service opens (its pool and its relay's session). */
export interface PostgresTimeouts {
  /** Opening a connection, and waiting for a free one in the pool. */
  connectTimeoutMs: number;
  /** Server side: a statement running longer is cancelled (SQLSTATE 57014), the connection stays usable. */
  statementTimeoutMs: number;
  /**
   * Client side: a query unanswered this long fails even when the server cannot say so (stopped,
   * half-open connection). Longer than the statement timeout, so the server's cancel normally wins.
   */
  queryTimeoutMs: number;
  /** Server side: a transaction idle this long is ended with its session (its locks are freed). */
  idleInTransactionTimeoutMs: number;
  /**
   * TCP keepalive on both ends of every connection: the first probe after this much silence, then
   * probes a third of it apart, three unanswered ones drop the connection. The server's end is
   * what frees a session advisory lock (the relay's leadership) of a client that vanished.
   */
  keepAliveIdleMs: number;
}

export const DEFAULT_POSTGRES_TIMEOUTS: PostgresTimeouts = {
  connectTimeoutMs: 5_000,
  statementTimeoutMs: 10_000,
  queryTimeoutMs: 15_000,
  idleInTransactionTimeoutMs: 10_000,
  keepAliveIdleMs: 10_000,
};

/**
 * Connections a service pool keeps open however long it stays idle, once it has opened them. A new
 * session costs its command a TCP connect, a SCRAM exchange and a backend start (about 16 ms on the
 * development machine against 0.1 for a query on an open one): a quiet room's next command, after
 * the pool had closed every connection, paid it each time.
 */
export const DEFAULT_POOL_MIN = 2;
/**
 * How long a connection above the pool's min stays open unused: minutes, not seconds. pg-pool hands
 * out the connection released last, so between two bursts the others sit unused; closed after 10 s
 * (pg-pool's default, ours until 2026-12-03), they were opened again at the next burst, 11-24 times
 * in 44 s of the 500-user room. The pool never holds more than `max` either way, and `max` is what
 * Postgres's connection limit is sized for (README, Running in production).
 */
export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 300_000;

export interface PostgresPoolOptions {
  connectionString: string;
  max: number;
  /** Connections kept open while idle (at most `max`); default DEFAULT_POOL_MIN. Opened as needed, not at once. */
  min?: number;
  /** A connection above `min` unused this long is closed; default DEFAULT_POOL_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  applicationName: string;
  timeouts?: Partial<PostgresTimeouts>;
  logger?: Logger;
}

/**
 * The one way a service opens Postgres: a pool whose every connection is bounded in time (see
 * PostgresTimeouts) and can never crash the process. `pg` emits `'error'` on a client whose
 * connection dies; the pool listens only while the client is idle, so a client checked out at
 * that moment (in a transaction, between two queries) would throw an unhandled `'error'` and end
 * the process. Every client here has its own listener for its whole life; the pool discards a
 * client that failed when it comes back (it is no longer queryable).
 *
 * Copying `pool.options` into a `pg.Client` (the outbox relay's session does) gives that client
 * the same bounds.
 */
export function createPostgresPool(opts: PostgresPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connectionSettings(opts.connectionString, opts.timeouts),
    max: opts.max,
    min: Math.min(opts.min ?? DEFAULT_POOL_MIN, opts.max),
    idleTimeoutMillis: opts.idleTimeoutMs ?? DEFAULT_POOL_IDLE_TIMEOUT_MS,
    application_name: opts.applicationName,
  });
  pool.on('connect', (client) => {
    // The user of the client sees the failure in its next query and reports it; this only keeps it from being fatal.
    client.on('error', (err) => opts.logger?.debug({ err }, 'a Postgres connection failed; it is discarded'));
  });
  return pool;
}

/** Client settings carrying the timeouts; `connectionString` keeps any `options` of its own. */
export function connectionSettings(connectionString: string, timeouts: Partial<PostgresTimeouts> = {}): pg.ClientConfig {
  const t = { ...DEFAULT_POSTGRES_TIMEOUTS, ...timeouts };
  const idleS = Math.max(1, Math.ceil(t.keepAliveIdleMs / 1000));
  const serverKeepAlive = [
    `-c tcp_keepalives_idle=${idleS}`,
    `-c tcp_keepalives_interval=${Math.max(1, Math.ceil(idleS / 3))}`,
    '-c tcp_keepalives_count=3',
  ].join(' ');
  // pg lets the URL's parameters override the config's, so an `options` in the URL would drop ours:
  // merge them into the URL instead.
  let url = connectionString;
  let options: string | undefined = serverKeepAlive;
  try {
    const parsed = new URL(connectionString);
    const own = parsed.searchParams.get('options');
    if (own !== null) {
      parsed.searchParams.set('options', `${own} ${serverKeepAlive}`);
      url = parsed.toString();
      options = undefined;
    }
  } catch {
    // not a URL pg would parse differently (a key=value string): pass it on as it is
  }
  return {
    connectionString: url,
    ...(options === undefined ? {} : { options }),
    connectionTimeoutMillis: t.connectTimeoutMs,
    statement_timeout: t.statementTimeoutMs,
    query_timeout: t.queryTimeoutMs,
    idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: t.keepAliveIdleMs,
  };
}
