import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { createEventStore, createPostgresPool, databaseUnavailableReason, startOutboxRelay, type PostgresTimeouts } from './index.js';
import { deferred, newEvents, useTestEnv, readJetStream, silentLogger } from './test-fixtures/harness.js';

const env = useTestEnv();
let nc: NatsConnection;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  nc = await env().natsConnection();
});
// Registered after useTestEnv's: vitest runs after-all hooks in reverse, so these pools end before the env closes.
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
});

/** A pool the way services make theirs, with bounds short enough to watch. */
function boundedPool(
  timeouts: Partial<PostgresTimeouts>,
  connectionString = env().db.url,
  max = 2,
  applicationName = 'timeouts-test',
): pg.Pool {
  const pool = createPostgresPool({ connectionString, max, applicationName, timeouts });
  pool.on('error', () => undefined); // idle clients of the killed sessions
  pools.push(pool);
  return pool;
}

async function elapsed<T>(work: () => Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = Date.now();
  try {
    await work();
    return { ms: Date.now() - started, error: null };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

describe('every Postgres connection is bounded in time', () => {
  it('a statement running past DB_STATEMENT_TIMEOUT_MS is cancelled, reported as a database outage, and the connection stays usable', async () => {
    const pool = boundedPool({ statementTimeoutMs: 300 }, env().db.url, 1);
    const { ms, error } = await elapsed(() => pool.query('SELECT pg_sleep(30)'));
    expect(error).toMatchObject({ code: '57014' });
    expect(databaseUnavailableReason(error)).toMatch(/did not answer in time/);
    expect(ms).toBeLessThan(10_000);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a transaction left idle past DB_IDLE_IN_TRANSACTION_TIMEOUT_MS is ended by the server; the process survives, the client is discarded', async () => {
    // A plain pool: the event store's own listener, not the service pool's, must catch the error.
    const pool = new pg.Pool({ connectionString: env().db.url, max: 1, idle_in_transaction_session_timeout: 300 });
    pool.on('error', () => undefined);
    pools.push(pool);
    const store = createEventStore({ pool, schema: 'timeouts_idle' });
    await store.migrate();
    const idle = deferred();
    const pid = deferred<number>();
    const stuck = store.transaction(async (tx) => {
      pid.resolve((await tx.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      await idle.promise; // awaiting something else with the transaction open
      await tx.append('thing-1', newEvents(1), { expectedVersion: 'any' });
    });
    const backend = await pid.promise;
    const admin = boundedPool({});
    await expect
      .poll(
        async () =>
          (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [backend])).rows[0]!.n,
        {
          timeout: 10_000,
        },
      )
      .toBe(0);
    idle.resolve();
    const failure = await stuck.then(
      () => null,
      (err: unknown) => err,
    );
    expect(databaseUnavailableReason(failure)).not.toBeNull();
    // The broken client went back with its error and was destroyed: the next transaction gets a fresh one.
    await store.transaction((tx) => tx.append('thing-1', newEvents(1), { expectedVersion: 'any' }));
    expect(await store.streamVersion('thing-1')).toBe(1);
  });

  it('a server that accepts but never answers fails a connection within DB_CONNECT_TIMEOUT_MS', async () => {
    const silent = net.createServer(() => undefined); // accepts, then says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const pool = boundedPool({ connectTimeoutMs: 300 }, `postgres://nobody@127.0.0.1:${port}/nothing`);
      const { ms, error } = await elapsed(() => pool.query('SELECT 1'));
      expect(databaseUnavailableReason(error)).not.toBeNull();
      expect(ms).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });

  it('a query whose server stopped answering (SIGSTOP of its backend) fails within DB_QUERY_TIMEOUT_MS', async () => {
    const pool = boundedPool({ queryTimeoutMs: 500 }, env().db.url, 1);
    const backend = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    process.kill(backend, 'SIGSTOP');
    try {
      const { ms, error } = await elapsed(() => pool.query('SELECT 1'));
      expect(error).toMatchObject({ message: expect.stringMatching(/Query read timeout/) as string });
      expect(databaseUnavailableReason(error)).toMatch(/did not answer in time/);
      expect(ms).toBeLessThan(10_000);
    } finally {
      process.kill(backend, 'SIGCONT');
    }
  });

  it('both ends of a pool connection and of the relay leader session probe with TCP keepalive after DB_KEEPALIVE_IDLE_MS of silence', async () => {
    const keepAliveIdleMs = 7_000;
    const pool = boundedPool({ keepAliveIdleMs }, env().db.url, 1, 'timeouts-keepalive');
    const store = createEventStore({ pool, schema: 'timeouts_keepalive' });
    await store.migrate();
    const { stream, subjectFor } = env().newStream('keepalive');
    const relay = await startOutboxRelay({ store, nats: nc, logger: silentLogger, stream, subjectFor });
    try {
      expect(relay.isLeader).toBe(true);
      const pgPort = Number(new URL(env().db.url).port);
      const { rows } = await pool.query<{ application_name: string; client_port: number }>(
        `SELECT application_name, client_port FROM pg_stat_activity WHERE datname = current_database() AND application_name IN ('timeouts-keepalive', 'outbox-relay:timeouts_keepalive')`,
      );
      expect(rows.map((r) => r.application_name).sort()).toEqual(['outbox-relay:timeouts_keepalive', 'timeouts-keepalive']);
      for (const { application_name, client_port } of rows) {
        // The kernel's view of each end: `timer:(keepalive,<time left>,<probes>)`; without keepalive
        // settings both would wait the OS default, two hours.
        const server = await keepaliveTimerS(`( sport = :${pgPort} and dport = :${client_port} )`);
        const client = await keepaliveTimerS(`( sport = :${client_port} and dport = :${pgPort} )`);
        expect({ application_name, server: server <= keepAliveIdleMs / 1000, client: client <= keepAliveIdleMs / 1000 }).toEqual({
          application_name,
          server: true,
          client: true,
        });
      }
    } finally {
      await relay.stop();
    }
  });
});

describe('the outbox relay whose leader session stops answering', () => {
  it('gives up leadership after DB_QUERY_TIMEOUT_MS instead of waiting forever, and leads again once the database answers', async () => {
    const pool = boundedPool({ queryTimeoutMs: 500 }, env().db.url, 2, 'timeouts-hung-leader');
    const store = createEventStore({ pool, schema: 'timeouts_hung_leader' });
    await store.migrate();
    const { stream, subjectFor } = env().newStream('hung');
    const relay = await startOutboxRelay({
      store,
      nats: nc,
      logger: silentLogger,
      stream,
      subjectFor,
      pollIntervalMs: 100,
      leaderRetryMs: 100,
    });
    expect(relay.isLeader).toBe(true);
    const backend = (
      await pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'outbox-relay:timeouts_hung_leader'`)
    ).rows[0]!.pid;
    process.kill(backend, 'SIGSTOP'); // the server side of the session answers nothing, as over a dead network
    try {
      await expect.poll(() => relay.isLeader, { timeout: 10_000 }).toBe(false);
    } finally {
      process.kill(backend, 'SIGCONT');
    }
    const { recorded } = await store.transaction((tx) => tx.append('hung-1', newEvents(1), { expectedVersion: 'any' }));
    await expect
      .poll(async () => (await readJetStream(nc, stream.name)).map((m) => m.msgId), { timeout: 20_000 })
      .toEqual([recorded[0]!.eventId]);
    expect(relay.isLeader).toBe(true);
    await relay.stop();
  });
});

describe('the outbox relay held back by an open transaction', () => {
  it('warns, naming the open transaction, and publishes once it ends', async () => {
    const lines: Array<{ level: number; msg: string; blockers?: Array<{ pid: number }> }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const pool = boundedPool({}, env().db.url, 4);
    const store = createEventStore({ pool, schema: 'timeouts_held_back' });
    await store.migrate();
    const { stream, subjectFor } = env().newStream('held');
    const relay = await startOutboxRelay({ store, nats: nc, logger, stream, subjectFor, heldBackWarnMs: 500 });
    const blocker = await pool.connect();
    try {
      // An unrelated transaction that took a transaction id and stays open (an idle psql, a migration).
      await blocker.query('BEGIN');
      const pid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_current_xact_id()')).rows[0]!.pid;
      const { recorded } = await store.transaction((tx) => tx.append('held-1', newEvents(1), { expectedVersion: 'any' }));

      await expect.poll(() => lines.find((l) => l.level === 40 && /held back/.test(l.msg)), { timeout: 10_000 }).toBeDefined();
      const warning = lines.find((l) => l.level === 40 && /held back/.test(l.msg))!;
      expect(warning.msg).toContain(`pid ${pid}`);
      expect(relay.heldBackSince).not.toBeNull();
      expect(await readJetStream(nc, stream.name)).toEqual([]);

      await blocker.query('COMMIT');
      await expect
        .poll(async () => (await readJetStream(nc, stream.name)).map((m) => m.msgId), { timeout: 10_000 })
        .toEqual([recorded[0]!.eventId]);
      await expect.poll(() => lines.some((l) => l.level === 30 && /no longer held back/.test(l.msg)), { timeout: 10_000 }).toBe(true);
      expect(relay.heldBackSince).toBeNull();
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      await relay.stop();
    }
  });
});

/** Seconds left on the keepalive timer of the one established socket `filter` selects (ss). */
async function keepaliveTimerS(filter: string): Promise<number> {
  // While a segment is unacknowledged the kernel shows the retransmission timer (`timer:(on,…)`)
  // instead: on a busy machine that lasts a moment, so look again until the socket is idle.
  let stdout = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    stdout = (await promisify(execFile)('ss', ['-tnoH', 'state', 'established', filter])).stdout;
    const timer = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+(?:\.\d+)?)sec)?(?:(\d+)ms)?/.exec(stdout);
    if (timer) return Number(timer[1] ?? 0) * 60 + Number(timer[2] ?? 0) + Number(timer[3] ?? 0) / 1000;
    if (!/timer:\(on,/.test(stdout)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no keepalive timer on ${filter}: ${JSON.stringify(stdout)}`);
}
