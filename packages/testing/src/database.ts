import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import type {} from './provided-context.js';

/** A database of its own for one test file, dropped afterwards. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(baseUrl: string, prefix = 'sf_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        // Connections a pool has just asked to end may still be closing (pg-pool's end() does not
        // wait for them): give them up to 2 s, so FORCE does not terminate one under a client that
        // no longer listens for errors (an uncaught 57P01).
        for (let waited = 0; waited < 2_000; waited += 50) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if ((rows[0]?.n ?? 0) === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** What `useTestPool` gives the tests of its block: a pool on a database of their own, and what `setup` made with it. */
export type TestPool<T> = T & { pool: pg.Pool; database: TestDatabase };

/**
 * The usual lifecycle of a database in a test file (or describe block) that talks to Postgres
 * without the services: before all tests a database of its own and a pool on it, then `setup`
 * (an event store migrated, say); after them the pool is ended and the database dropped. Returns
 * a getter, as the pool exists only once `beforeAll` ran:
 *
 *   const db = useTestPool(async (pool) => {
 *     const store = createEventStore({ pool, schema: 'chat' });
 *     await store.migrate(chatMigrations);
 *     return { store };
 *   });
 *   it('…', async () => { await runStreamCommand(db().store, …); });
 */
export function useTestPool<T extends object = object>(
  setup: (pool: pg.Pool) => Promise<T> = () => Promise.resolve({} as T),
  opts: { max?: number } = {},
): () => TestPool<T> {
  let current: TestPool<T> | undefined;
  let database: TestDatabase | undefined;
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(inject('databaseUrl'));
    pool = new pg.Pool({ connectionString: database.url, max: opts.max ?? 4 });
    // Every connection's end, awaited before the drop: pool.end() resolves once it has asked its
    // clients to end, not once they have, and DROP … WITH (FORCE) then terminating one still
    // closing was an uncaught 57P01 'error' on a client nobody listened to any more.
    pool.on('connect', (client) => {
      closed.push(new Promise<void>((resolve) => client.once('end', () => resolve())));
      client.on('error', () => {});
    });
    current = { ...(await setup(pool)), pool, database };
  });
  const closed: Array<Promise<void>> = [];
  afterAll(async () => {
    current = undefined;
    await pool?.end();
    await Promise.all(closed.splice(0));
    await database?.drop();
  });
  return () => {
    if (!current) throw new Error('the test database is not ready (used outside the tests of the block that called useTestPool?)');
    return current;
  };
}
