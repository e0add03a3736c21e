import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventStore, withIdempotencyKey } from '@siteflow/eventstore';
import { useTestPool } from '@siteflow/testing';
import { runStreamCommand, type StreamCommand } from './command.js';

/**
 * The pipeline's round trips to Postgres, on a real one: each costs a wake-up of the service and
 * of a backend, which on a busy machine is most of what a command waits for (issue 16). BEGIN
 * carries the idempotency key's lock and lookup and the stream's lock; COMMIT carries the append
 * (`tx.appendAtCommit`), the projection and the outcome.
 */
describe('a command of one stream', () => {
  const db = useTestPool(
    async (pool) => {
      const store = createEventStore({ pool, schema: 'trips_spec' });
      await store.migrate([{ id: 1, name: 'seen', up: 'CREATE TABLE trips_spec.seen (stream_id text PRIMARY KEY, version int NOT NULL)' }]);
      return { store };
    },
    { max: 6 },
  );
  afterEach(() => vi.restoreAllMocks());

  /**
   * Loads with one statement, appends one `Bumped`, projects with one statement. `riding`: its load
   * is its `first` statement and its projection rides with COMMIT (`tx.atCommit`); otherwise each is
   * queried on its own. `hold` keeps its transaction open in `decide`.
   */
  const bump = (
    streamId: string,
    opts: { riding?: boolean; hold?: { entered: () => void; until: Promise<void> }; projected?: (version: number) => void } = {},
  ): StreamCommand<number, string, { version: number }> => {
    const load = { text: 'SELECT version FROM trips_spec.seen WHERE stream_id = $1', values: [streamId] };
    const project = (version: number) => ({
      text: 'INSERT INTO trips_spec.seen (stream_id, version) VALUES ($1, $2) ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version RETURNING version',
      values: [streamId, version],
    });
    return {
      streamId,
      ...(opts.riding ? { first: () => load } : {}),
      load: async (tx, version, first) => {
        if (opts.riding) expect(first).not.toBeNull();
        else await tx.client.query(load);
        return version;
      },
      decide: async () => {
        opts.hold?.entered();
        await opts.hold?.until;
        return ['Bumped'];
      },
      evolve: (n) => n + 1,
      toNewEvent: (type, after) => ({ type, data: { after }, projectId: 1 }),
      project: async (tx, { version }) => {
        if (opts.riding) tx.atCommit(project(version), (r) => opts.projected?.((r.rows[0] as { version: number }).version));
        else await tx.client.query(project(version));
      },
      reply: ({ version }) => ({ version }),
    };
  };

  /** The round trips of `run`, leaving out each statement's preparation (once per connection). */
  const roundTrips = async (run: () => Promise<unknown>) => {
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    await run();
    const texts = sent.mock.calls.map((c) => (typeof c[0] === 'string' ? c[0] : ((c[0] as { text?: string }).text ?? '')));
    sent.mockRestore();
    return texts.filter((t) => !t.startsWith('PREPARE '));
  };

  const versions = async (streamId: string) =>
    (
      await db().pool.query<{ version: number }>('SELECT version FROM trips_spec.events WHERE stream_id = $1 ORDER BY version', [streamId])
    ).rows.map((r) => r.version);

  const outcomes = async (key: string) =>
    (
      await db().pool.query<{ command: string; outcome: unknown }>(
        'SELECT command, outcome FROM trips_spec.command_outcomes WHERE key = $1',
        [key],
      )
    ).rows;

  it('is two round trips when its load and projection ride: BEGIN with the lock and the load; the append and the projection with COMMIT', async () => {
    await runStreamCommand(db().store, bump('three', { riding: true })); // creates it, and prepares the statements
    const projected: number[] = [];
    let reply: unknown;
    const trips = await roundTrips(
      async () => (reply = await runStreamCommand(db().store, bump('three', { riding: true, projected: (v) => projected.push(v) }))),
    );
    expect(reply).toEqual({ version: 2 });
    expect(trips).toEqual([
      expect.stringMatching(/^BEGIN;\nEXECUTE sfx_\w+\('three', .*\);\nEXECUTE sfx_\w+\('three'\)$/),
      expect.stringMatching(/^EXECUTE sfx_\w+\('three', '1', .*Bumped.*\);\nEXECUTE sfx_\w+\('three', '2'\);\nCOMMIT$/s),
    ]);
    expect(projected).toEqual([2]);
    expect(await versions('three')).toEqual([1, 2]);
    expect((await db().pool.query('SELECT version FROM trips_spec.seen WHERE stream_id = $1', ['three'])).rows).toEqual([{ version: 2 }]);
  });

  it('folding its own stream (readAhead, as presence sessions do), reads it with BEGIN and the lock: two round trips', async () => {
    const fold = (streamId: string): StreamCommand<string[], string, string[]> => ({
      streamId,
      load: async (tx) => (await tx.readStream(streamId)).map((e) => e.type),
      decide: (seen) => [`Seen${seen.length}`],
      evolve: (seen, t) => [...seen, t],
      toNewEvent: (t) => ({ type: t, data: {}, projectId: 1 }),
      project: (tx, { version }) => {
        tx.atCommit({
          text: 'INSERT INTO trips_spec.seen (stream_id, version) VALUES ($1, $2) ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version',
          values: [streamId, version],
        });
        return Promise.resolve();
      },
      reply: ({ after }) => after,
    });
    await runStreamCommand(db().store, fold('folded'), { readAhead: true });
    let reply: unknown;
    const trips = await roundTrips(async () => (reply = await runStreamCommand(db().store, fold('folded'), { readAhead: true })));
    expect(reply).toEqual(['Seen0', 'Seen1']); // the second saw the first's event, read with BEGIN
    expect(trips).toHaveLength(2);
    expect((await db().pool.query('SELECT version FROM trips_spec.seen WHERE stream_id = $1', ['folded'])).rows).toEqual([{ version: 2 }]);
  });

  it('is four when they query on their own: BEGIN with the lock, load, project, the append with COMMIT', async () => {
    await runStreamCommand(db().store, bump('five'));
    const trips = await roundTrips(() => runStreamCommand(db().store, bump('five')));
    expect(trips).toHaveLength(4);
    expect(await versions('five')).toEqual([1, 2]);
  });

  it('under an idempotency key, still two: the key rides with BEGIN, its outcome with COMMIT; a retry is one round trip and a rollback', async () => {
    const key = { userId: 7, key: 'key-0001-three', command: 'trips.bump' };
    await runStreamCommand(db().store, bump('keyed-warm', { riding: true }));
    const trips = await roundTrips(async () =>
      expect(await withIdempotencyKey(key, () => runStreamCommand(db().store, bump('keyed', { riding: true })))).toEqual({ version: 1 }),
    );
    // The first use of the key's statements may prepare them; counted without that, two.
    expect(trips).toHaveLength(2);
    expect(await outcomes('key-0001-three')).toEqual([{ command: 'trips.bump', outcome: { version: 1 } }]);

    const again = await roundTrips(async () =>
      expect(await withIdempotencyKey(key, () => runStreamCommand(db().store, bump('keyed', { riding: true })))).toEqual({ version: 1 }),
    );
    expect(again).toEqual([expect.stringMatching(/^BEGIN;/), 'ROLLBACK']);
    expect(await versions('keyed')).toEqual([1]);
  });

  it('a projection riding with COMMIT that fails fails the command: nothing is stored, and its result is never handed on', async () => {
    const projected: number[] = [];
    const failing: StreamCommand<number, string, { version: number }> = {
      ...bump('failing', { riding: true, projected: (v) => projected.push(v) }),
      project: (tx) => {
        tx.atCommit({ text: 'SELECT 1 / (SELECT count(*) FROM trips_spec.seen WHERE false)::int', values: [] }, () => projected.push(-1));
        return Promise.resolve();
      },
    };
    await expect(runStreamCommand(db().store, failing)).rejects.toThrow(/division by zero/);
    expect(projected).toEqual([]);
    expect(await versions('failing')).toEqual([]);
    // The connection is fine afterwards: the next command on the stream creates it.
    expect(await runStreamCommand(db().store, bump('failing', { riding: true }))).toEqual({ version: 1 });
  });

  it('a duplicate waiting on the key in BEGIN holds no transaction id, and then sees the outcome the first committed', async () => {
    const key = { userId: 7, key: 'key-0002-racing', command: 'trips.bump' };
    let release = () => {};
    let entered = () => {};
    const inDecide = new Promise<void>((resolve) => (entered = resolve));
    const until = new Promise<void>((resolve) => (release = resolve));
    const first = withIdempotencyKey(key, () => runStreamCommand(db().store, bump('racing', { riding: true, hold: { entered, until } })));
    const waiters = async () =>
      (
        await db().pool.query<{ has_xid: boolean }>(
          `SELECT backend_xid IS NOT NULL AS has_xid FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
        )
      ).rows;
    // The first holds the key (and the stream) in `decide`; the duplicate queues on the key.
    await inDecide;
    // Another stream, as another instance's retry may carry: it waits on the key, not on this process's line for the stream.
    const second = withIdempotencyKey(key, () => runStreamCommand(db().store, bump('racing-2', { riding: true })));
    await vi.waitFor(async () => expect(await waiters()).toEqual([{ has_xid: false }]), { timeout: 10_000, interval: 20 });
    release();
    expect(await Promise.all([first, second])).toEqual([{ version: 1 }, { version: 1 }]);
    expect(await versions('racing')).toEqual([1]);
    expect(await versions('racing-2')).toEqual([]);
  });

  it('a key, a command and an outcome with quotes and backslashes are stored exactly, never read as SQL', async () => {
    const hostile = `k'); DROP TABLE trips_spec.events; --\\'`;
    const key = { userId: 9, key: hostile, command: `trips.bump'\\` };
    const reply = await withIdempotencyKey(key, () =>
      runStreamCommand(db().store, { ...bump('quoted', { riding: true }), reply: () => ({ text: `it's "quoted" \\ and 'more'` }) }),
    );
    expect(reply).toEqual({ text: `it's "quoted" \\ and 'more'` });
    expect(await outcomes(hostile)).toEqual([{ command: `trips.bump'\\`, outcome: { text: `it's "quoted" \\ and 'more'` } }]);
    expect(await versions('quoted')).toEqual([1]);
    // The same key again: its recorded outcome, nothing run.
    expect(await withIdempotencyKey(key, () => runStreamCommand(db().store, bump('quoted', { riding: true })))).toEqual(reply);
    expect(await versions('quoted')).toEqual([1]);
  });
});
