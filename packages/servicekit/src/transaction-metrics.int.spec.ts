import { afterAll, describe, expect, it } from 'vitest';
import { createEventStore, observeTransactions, type TransactionTiming } from '@siteflow/eventstore';
import { parseExposition, useTestPool, valueOf } from '@siteflow/testing';
import { runStreamCommand, type StreamCommand } from './command.js';
import { ServiceMetrics } from './metrics.js';

/**
 * Where a store transaction's time goes (issue 16: at the room's p50 a chat post spent more than half
 * of its handling waiting on its two round trips), on a real Postgres: what the event store tells its
 * observer, and what the service's /metrics make of it.
 */
describe("a store transaction's timing", () => {
  // One connection: a second transaction waits for it, and a connection's statements, once prepared, stay prepared.
  const db = useTestPool(
    async (pool) => {
      const store = createEventStore({ pool, schema: 'timing_spec' });
      await store.migrate([
        { id: 1, name: 'seen', up: 'CREATE TABLE timing_spec.seen (stream_id text PRIMARY KEY, version int NOT NULL)' },
      ]);
      return { store };
    },
    { max: 1 },
  );
  const seen: TransactionTiming[] = [];
  const observe = () => observeTransactions((t) => seen.push(t));
  afterAll(() => observeTransactions(null));

  /** Its load rides with BEGIN and its projection with COMMIT: two round trips once prepared. `during` runs in `decide`. */
  const bump = (streamId: string, during?: (client: unknown) => Promise<void>): StreamCommand<number, string, { version: number }> => ({
    streamId,
    first: () => ({ text: 'SELECT version FROM timing_spec.seen WHERE stream_id = $1', values: [streamId] }),
    load: (_tx, version) => Promise.resolve(version),
    decide: async (_state, { tx }) => {
      await during?.(tx.client);
      return ['Bumped'];
    },
    evolve: (n) => n + 1,
    toNewEvent: (type, after) => ({ type, data: { after }, projectId: 1 }),
    project: (tx, { version }) => {
      tx.atCommit({
        text: 'INSERT INTO timing_spec.seen (stream_id, version) VALUES ($1, $2) ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version',
        values: [streamId, version],
      });
      return Promise.resolve();
    },
    reply: ({ version }) => ({ version }),
  });

  it('counts a command’s round trips and the time a statement was outstanding, and leaves the pooled client as it found it', async () => {
    observe();
    // Prepares the statements on the one connection: creating a stream's append, then extending one's.
    await runStreamCommand(db().store, bump('warm'));
    await runStreamCommand(db().store, bump('warm'));
    seen.length = 0;
    // A statement that takes at least 60 ms on the server, sent between BEGIN's and COMMIT's round trips.
    let patched: boolean | undefined;
    const started = performance.now();
    await runStreamCommand(
      db().store,
      bump('warm', async (client) => {
        patched = Object.hasOwn(client as object, 'query');
        await (client as { query(sql: string): Promise<unknown> }).query('SELECT pg_sleep(0.06)');
      }),
    );
    const wall = (performance.now() - started) / 1000;
    expect(patched).toBe(true);
    expect(seen).toHaveLength(1);
    const [t] = seen as [TransactionTiming];
    expect(t).toMatchObject({ kind: 'command', committed: true, roundTrips: 3 });
    expect(t.postgresSeconds).toBeGreaterThanOrEqual(0.06);
    expect(t.seconds).toBeGreaterThanOrEqual(t.postgresSeconds + t.poolWaitSeconds);
    expect(t.seconds).toBeLessThanOrEqual(wall);
    // Back in the pool with its own query method: the next user of the connection is not timed into this one.
    const client = await db().pool.connect();
    try {
      expect(Object.hasOwn(client, 'query')).toBe(false);
    } finally {
      client.release();
    }
  });

  it('tells a rolled-back command (its ROLLBACK counted) from a committed one, and a snapshot read from a command', async () => {
    observe();
    await runStreamCommand(db().store, bump('refused')); // prepared
    seen.length = 0;
    const refusal = new Error('refused in decide');
    await expect(
      runStreamCommand(db().store, {
        ...bump('refused'),
        decide: () => {
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    expect(seen).toEqual([expect.objectContaining({ kind: 'command', committed: false, roundTrips: 2 })]); // BEGIN's, ROLLBACK
    seen.length = 0;
    await db().store.snapshot(async (tx) => {
      await tx.client.query('SELECT 1');
    });
    expect(seen).toEqual([expect.objectContaining({ kind: 'snapshot', committed: true, roundTrips: 3 })]); // BEGIN, SELECT, COMMIT
  });

  it('measures the wait for a pooled connection apart from the transaction’s own time', async () => {
    observe();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const holding = new Promise<void>((r) => (entered = r));
    const first = runStreamCommand(
      db().store,
      bump('holder', async () => {
        entered();
        await held;
      }),
    );
    await holding;
    seen.length = 0;
    const second = runStreamCommand(db().store, bump('waiter'));
    // The second has asked for the pool's one connection once the pool counts it waiting.
    while (db().pool.waitingCount === 0) await new Promise((r) => setImmediate(r));
    const waitingFrom = performance.now();
    await new Promise((r) => setTimeout(r, 40));
    const releasedAt = performance.now();
    release();
    await Promise.all([first, second]);
    const waiter = seen.find((t) => t.poolWaitSeconds > 0.03);
    expect(seen).toHaveLength(2);
    expect(waiter?.poolWaitSeconds).toBeGreaterThanOrEqual((releasedAt - waitingFrom) / 1000);
    // The holder asked when the connection was free.
    expect(seen.filter((t) => t !== waiter).map((t) => t.poolWaitSeconds < 0.03)).toEqual([true]);
  });

  it('commits and answers even when the observer throws', async () => {
    observeTransactions(() => {
      throw new Error('a broken metric');
    });
    try {
      expect(await runStreamCommand(db().store, bump('observer-throws'))).toEqual({ version: 1 });
      expect(await runStreamCommand(db().store, bump('observer-throws'))).toEqual({ version: 2 });
    } finally {
      observeTransactions(null);
    }
  });

  it('times nothing and patches nothing while nobody observes', async () => {
    observeTransactions(null);
    seen.length = 0;
    let patched: boolean | undefined;
    await runStreamCommand(
      db().store,
      bump('unobserved', async (client) => {
        patched = Object.hasOwn(client as object, 'query');
        await Promise.resolve();
      }),
    );
    expect(patched).toBe(false);
    expect(seen).toEqual([]);
  });

  it("reach a service's /metrics as histograms by kind and outcome", async () => {
    const metrics = new ServiceMetrics('chat'); // sets the process's observers
    try {
      await runStreamCommand(db().store, bump('scraped'));
      await runStreamCommand(db().store, bump('scraped'));
      const samples = parseExposition(await metrics.registry.metrics());
      const labels = { kind: 'command', outcome: 'committed' };
      expect(valueOf(samples, 'siteflow_eventstore_transaction_duration_seconds_count', labels)).toBe(2);
      expect(valueOf(samples, 'siteflow_eventstore_transaction_round_trips_count', labels)).toBe(2);
      // Two round trips each once prepared; the first may have prepared a statement or more.
      expect(valueOf(samples, 'siteflow_eventstore_transaction_round_trips_sum', labels)).toBeGreaterThanOrEqual(4);
      const total = valueOf(samples, 'siteflow_eventstore_transaction_duration_seconds_sum', labels);
      const inPostgres = valueOf(samples, 'siteflow_eventstore_transaction_postgres_seconds_sum', labels);
      const poolWait = valueOf(samples, 'siteflow_eventstore_transaction_pool_wait_seconds_sum', labels);
      expect(inPostgres).toBeGreaterThan(0);
      expect(total).toBeGreaterThanOrEqual(inPostgres + poolWait);
    } finally {
      observeTransactions(null);
    }
  });
});
