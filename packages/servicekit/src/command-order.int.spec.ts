import { describe, expect, it } from 'vitest';
import { createEventStore, StreamNotReserved, type EventStoreTx } from '@siteflow/eventstore';
import { useTestPool } from '@siteflow/testing';
import { decideInTransaction, runStreamCommand, type StreamCommand } from './command.js';

/**
 * One transaction writing two streams, racing a writer of the second one, on a real Postgres: the
 * relay's order (readAll: transaction id, then position) must still be each stream's version order
 * (docs/consistency.md, rule 3), or gateways drop the lower version as a duplicate.
 */
describe('a command that writes several streams', () => {
  const db = useTestPool(
    async (pool) => {
      const store = createEventStore({ pool, schema: 'order_spec' });
      await store.migrate([{ id: 1, name: 'targets', up: 'CREATE TABLE targets (stream_id text PRIMARY KEY)' }]);
      return { store };
    },
    { max: 6 },
  );

  /** Appends one `Bumped` to the stream; `project` runs after the append, in the transaction. */
  const bump = (
    streamId: string,
    hooks: Pick<StreamCommand<number, string, number>, 'project' | 'alsoWrites'> = {},
  ): StreamCommand<number, string, number> => ({
    streamId,
    load: (_tx, version) => Promise.resolve(version),
    decide: () => ['Bumped'],
    evolve: (n) => n + 1,
    toNewEvent: (type, after) => ({ type, data: { after }, projectId: 1 }),
    reply: ({ version }) => version,
    ...hooks,
  });

  /** The versions of `streamId` in the order the relay publishes them, once `count` are readable. */
  const relayOrder = async (streamId: string, count: number): Promise<number[]> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const versions = (await db().store.readAll({ limit: 10_000 })).filter((e) => e.streamId === streamId).map((e) => e.version);
      // readAll holds back everything from the oldest running transaction on: wait for it to end.
      if (versions.length >= count || Date.now() > deadline) return versions;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  /** Polls until `done` holds (a condition, not a duration). */
  const until = async (done: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const someoneWaitsOnALock = async () => {
    const { rows } = await db().pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    return rows[0]!.n > 0;
  };

  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };

  it('A writes P then D, B writes D meanwhile: the relay still sees D in version order', async () => {
    await runStreamCommand(db().store, bump('race-d')); // D exists: version 1
    const aWroteP = deferred();
    const releaseA = deferred();
    const a = runStreamCommand(
      db().store,
      bump('race-p', {
        alsoWrites: () => ['race-d'],
        project: async (tx) => {
          aWroteP.resolve();
          await releaseA.promise; // A has written P (its transaction has an id) and not yet D
          await decideInTransaction(tx, bump('race-d'));
        },
      }),
    );
    await aWroteP.promise;

    let bDone = false;
    const b = runStreamCommand(db().store, bump('race-d')).finally(() => (bDone = true));
    // B either finished (nothing held D for it) or waits for A (which reserved D before its first write).
    await until(async () => bDone || (await someoneWaitsOnALock()), 'B to finish or to wait on a lock');
    releaseA.resolve();
    await Promise.all([a, b]);

    expect(await relayOrder('race-d', 3)).toEqual([1, 2, 3]);
    expect(await relayOrder('race-p', 1)).toEqual([1]);
  });

  it('an existing stream written without being reserved before the first write is refused, and nothing is stored', async () => {
    await runStreamCommand(db().store, bump('undeclared-d'));
    // The command's own stream exists: locking its row in BEGIN's round trip is the first write.
    await runStreamCommand(db().store, bump('undeclared-p'));
    const attempt = runStreamCommand(
      db().store,
      bump('undeclared-p', {
        project: async (tx) => {
          await decideInTransaction(tx, bump('undeclared-d'));
        },
      }),
    );
    await expect(attempt).rejects.toBeInstanceOf(StreamNotReserved);
    await expect(attempt).rejects.toMatchObject({ streamId: 'undeclared-d' });
    expect(await db().store.streamVersion('undeclared-p')).toBe(1);
    expect(await db().store.streamVersion('undeclared-d')).toBe(1);
  });

  it('a new stream whose append rides with COMMIT has written nothing yet: another stream reserved meanwhile is in order', async () => {
    await runStreamCommand(db().store, bump('riding-d'));
    await runStreamCommand(
      db().store,
      bump('riding-p', {
        project: async (tx) => {
          await decideInTransaction(tx, bump('riding-d'));
        },
      }),
    );
    expect(await db().store.streamVersion('riding-p')).toBe(1);
    expect(await db().store.streamVersion('riding-d')).toBe(2);
  });

  it('a stream created in the transaction needs no reservation', async () => {
    await runStreamCommand(
      db().store,
      bump('creator-p', {
        project: async (tx) => {
          await decideInTransaction(tx, bump('created-d'));
        },
      }),
    );
    expect(await db().store.streamVersion('created-d')).toBe(1);
  });

  it('runs again, reading its streams again, when the set it reserved changed before it wrote them', async () => {
    await runStreamCommand(db().store, bump('late-d1'));
    await runStreamCommand(db().store, bump('late-d2'));
    await db().pool.query(`INSERT INTO order_spec.targets VALUES ('late-d1')`);
    const targets = async (tx: EventStoreTx) =>
      (await tx.client.query<{ stream_id: string }>('SELECT stream_id FROM order_spec.targets ORDER BY stream_id')).rows.map(
        (r) => r.stream_id,
      );
    const reserved: string[][] = [];
    let runs = 0;
    const firstWrote = deferred();
    const releaseFirst = deferred();
    const a = runStreamCommand(
      db().store,
      bump('late-p', {
        alsoWrites: async (tx) => {
          const ids = await targets(tx);
          reserved.push(ids);
          return ids;
        },
        project: async (tx) => {
          if (++runs === 1) {
            firstWrote.resolve();
            await releaseFirst.promise;
          }
          for (const id of await targets(tx)) await decideInTransaction(tx, bump(id));
        },
      }),
    );
    await firstWrote.promise;
    // Between A's reservation and its writes, another target appears (a removed member took another lock).
    await db().pool.query(`INSERT INTO order_spec.targets VALUES ('late-d2')`);
    releaseFirst.resolve();
    await a;

    expect(reserved).toEqual([['late-d1'], ['late-d1', 'late-d2']]);
    expect(await db().store.streamVersion('late-p')).toBe(1);
    expect(await relayOrder('late-d1', 2)).toEqual([1, 2]);
    expect(await relayOrder('late-d2', 2)).toEqual([1, 2]);
  });
});
