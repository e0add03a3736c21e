import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPostgresPool, DEFAULT_POOL_IDLE_TIMEOUT_MS, DEFAULT_POOL_MIN } from './index.js';
import { useTestEnv } from './test-fixtures/harness.js';

const env = useTestEnv();
const pools: pg.Pool[] = [];
// Registered after useTestEnv's: vitest runs after-all hooks in reverse, so these pools end before the env closes.
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
});

/** Backend pids of the sessions open on the server under this application name. */
async function sessionsOf(applicationName: string): Promise<number[]> {
  const admin = new pg.Client({ connectionString: env().db.url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid', [
      applicationName,
    ]);
    return rows.map((r) => r.pid);
  } finally {
    await admin.end();
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a service pool keeps its warm connections', () => {
  it('closes the connections above DB_POOL_MIN once idle, and keeps those (the same sessions) however long it stays idle', async () => {
    // A new session costs its command a TCP connect, a SCRAM exchange and a backend start (about 16 ms
    // on the development machine, against 0.1 for a query on an open one): a checklist toggle after
    // 10 s of quiet took 44-74 ms instead of 8 when the pool had closed every connection.
    const applicationName = 'pool-warm-test';
    const idleTimeoutMs = 200;
    const pool = createPostgresPool({ connectionString: env().db.url, max: 4, applicationName, idleTimeoutMs });
    pools.push(pool);
    const clients = await Promise.all([1, 2, 3, 4].map(() => pool.connect()));
    const opened = await Promise.all(
      clients.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid),
    );
    for (const c of clients) c.release();

    await until(() => pool.totalCount === DEFAULT_POOL_MIN, `the pool down to ${DEFAULT_POOL_MIN} connections (has ${pool.totalCount})`);
    const kept = await sessionsOf(applicationName);
    expect(kept).toHaveLength(DEFAULT_POOL_MIN);
    for (const pid of kept) expect(opened).toContain(pid);

    // Five more idle timeouts: the same sessions are open, and a query runs on one of them.
    const quietUntil = Date.now() + 5 * idleTimeoutMs;
    await until(() => Date.now() >= quietUntil, 'five idle timeouts');
    expect(pool.totalCount).toBe(DEFAULT_POOL_MIN);
    expect(await sessionsOf(applicationName)).toEqual(kept);
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(kept).toContain(rows[0]?.pid);
  });

  it('never keeps more than the pool may hold, and DB_POOL_MIN 0 closes every idle connection', async () => {
    const small = createPostgresPool({
      connectionString: env().db.url,
      max: 1,
      min: 3,
      applicationName: 'pool-warm-small',
      idleTimeoutMs: 100,
    });
    const none = createPostgresPool({
      connectionString: env().db.url,
      max: 2,
      min: 0,
      applicationName: 'pool-warm-none',
      idleTimeoutMs: 100,
    });
    pools.push(small, none);
    expect(small.options.min).toBe(1);
    await Promise.all([small.query('SELECT 1'), none.query('SELECT 1')]);
    await until(() => none.totalCount === 0, 'the min-0 pool empty');
    expect(await sessionsOf('pool-warm-none')).toEqual([]);
    expect(small.totalCount).toBe(1);
  });

  it('keeps the connections a burst opened through the next burst, by default, while it is in use in between', async () => {
    // Load comes in bursts: a few commands at once take a connection each, then one at a time for a
    // while. pg-pool hands out the connection released last, so the others sat unused and, with a
    // 10 s idle timeout, were closed and opened again at the next burst: 11-24 new sessions in 44 s
    // of the 500-user room (bench, "Postgres sessions opened"), each a SCRAM exchange, a cold
    // backend and every prepared statement prepared again.
    const applicationName = 'pool-warm-bursts';
    const pool = createPostgresPool({ connectionString: env().db.url, max: 4, applicationName });
    pools.push(pool);
    const burst = async () => {
      const clients = await Promise.all([1, 2, 3, 4].map(() => pool.connect()));
      try {
        return await Promise.all(clients.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid));
      } finally {
        for (const c of clients) c.release();
      }
    };
    const opened = await burst();
    expect(new Set(opened).size).toBe(4);

    // One query at a time for longer than the old idle timeout, on the connection released last.
    const quietUntil = Date.now() + 10_000 + 1_500;
    while (Date.now() < quietUntil) {
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(opened).toContain(rows[0]?.pid);
      await new Promise((r) => setTimeout(r, 100));
    }

    const sorted = (pids: Array<number | undefined>) => [...pids].sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(sorted(await burst())).toEqual(sorted(opened));
    expect(await sessionsOf(applicationName)).toEqual(sorted(opened));
    expect(DEFAULT_POOL_IDLE_TIMEOUT_MS).toBeGreaterThan(60_000);
  }, 30_000);
});
