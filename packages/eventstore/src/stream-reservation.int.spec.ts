import { describe, expect, it } from 'vitest';
import { StreamNotReserved, type EventStoreTx } from './index.js';
import { deferred, eventually, newEvents, useMigratedStore } from './test-fixtures/harness.js';

const { store } = useMigratedStore('reserve_test', 10);

/** Backends of the test database waiting for an advisory lock, and whether each has a transaction id. */
const advisoryWaiters = async () =>
  (
    await store().pool.query<{ pid: number; has_xid: boolean }>(
      `SELECT pid, backend_xid IS NOT NULL AS has_xid FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
    )
  ).rows;

describe('stream reservations (docs/consistency.md, rule 3)', () => {
  it('a writer of a reserved stream waits without a transaction id, so the relay order is the version order', async () => {
    await store().transaction((tx) => tx.append('res-d', newEvents(1), { expectedVersion: 'no_stream' }));
    const aWroteP = deferred();
    const releaseA = deferred();
    const a = store().transaction(async (tx) => {
      await tx.reserveStreams(['res-p', 'res-d']);
      await tx.append('res-p', newEvents(1), { expectedVersion: await tx.lockStream('res-p') });
      aWroteP.resolve();
      await releaseA.promise; // A has a transaction id now, and has not written D yet
      return tx.append('res-d', newEvents(1), { expectedVersion: await tx.lockStream('res-d') });
    });
    await aWroteP.promise;
    const b = store().transaction(async (tx) => tx.append('res-d', newEvents(1), { expectedVersion: await tx.lockStream('res-d') }));
    const waiters = await eventually(advisoryWaiters, (w) => w.length > 0);
    expect(waiters.map((w) => w.has_xid)).toEqual([false]); // B waits for D holding no transaction id
    releaseA.resolve();
    const [aResult, bResult] = await Promise.all([a, b]);

    expect(aResult.recorded[0]!.version).toBe(2);
    expect(bResult.recorded[0]!.version).toBe(3);
    expect(BigInt(aResult.recorded[0]!.transactionId)).toBeLessThan(BigInt(bResult.recorded[0]!.transactionId));
    const relayed = await eventually(
      async () => (await store().readAll({ limit: 10_000 })).filter((e) => e.streamId === 'res-d'),
      (events) => events.length >= 3,
    );
    expect(relayed.map((e) => e.version)).toEqual([1, 2, 3]);
  });

  it('takes a set of reservations in sorted order: a second reserver holds none of them while it waits', async () => {
    const firstHolds = deferred();
    const releaseFirst = deferred();
    const first = store().transaction(async (tx) => {
      await tx.reserveStreams(['sort-b', 'sort-a']);
      firstHolds.resolve();
      await releaseFirst.promise;
    });
    await firstHolds.promise;
    let secondPid = 0;
    const second = store().transaction(async (tx) => {
      secondPid = (await tx.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await tx.reserveStreams(['sort-b', 'sort-a']);
    });
    await eventually(advisoryWaiters, (w) => w.some((x) => x.pid === secondPid));
    const { rows } = await store().pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1`,
      [secondPid],
    );
    expect(rows[0]!.n).toBe(0); // it waits for sort-a, the first in order, holding nothing
    releaseFirst.resolve();
    await Promise.all([first, second]);
  });

  it('writing an existing stream reserved only after the first write throws StreamNotReserved; a new stream does not', async () => {
    await store().transaction((tx) => tx.append('late-existing', newEvents(1), { expectedVersion: 'no_stream' }));
    const afterFirstWrite = (write: (tx: EventStoreTx) => Promise<unknown>) =>
      store().transaction(async (tx) => {
        await tx.append('late-first', newEvents(1), { expectedVersion: 'any' });
        return write(tx);
      });

    for (const write of [
      (tx: EventStoreTx) => tx.lockStream('late-existing'),
      (tx: EventStoreTx) => tx.readStream('late-existing', { forUpdate: true }),
      (tx: EventStoreTx) => tx.append('late-existing', newEvents(1), { expectedVersion: 'any' }),
      async (tx: EventStoreTx) => {
        await tx.reserveStreams(['late-existing']); // too late: the transaction has its id
        return tx.lockStream('late-existing');
      },
    ]) {
      await expect(afterFirstWrite(write)).rejects.toMatchObject({ name: 'StreamNotReserved', streamId: 'late-existing' });
    }
    await expect(afterFirstWrite((tx) => tx.lockStream('late-existing'))).rejects.toBeInstanceOf(StreamNotReserved);
    expect(await store().streamVersion('late-existing')).toBe(1);
    expect(await store().streamVersion('late-first')).toBe(0);

    // Streams nobody created yet are exempt: nobody else can have written them.
    await afterFirstWrite(async (tx) => {
      expect(await tx.lockStream('late-new-1')).toBe(0);
      await tx.append('late-new-1', newEvents(1), { expectedVersion: 'no_stream' });
      await tx.append('late-new-2', newEvents(2), { expectedVersion: 'any' });
    });
    expect(await store().streamVersion('late-new-1')).toBe(1);
    expect(await store().streamVersion('late-new-2')).toBe(2);

    // Reserved before the first write, the same writes pass.
    await store().transaction(async (tx) => {
      await tx.reserveStreams(['late-first', 'late-existing']);
      await tx.append('late-first', newEvents(1), { expectedVersion: 'any' });
      await tx.append('late-existing', newEvents(1), { expectedVersion: await tx.lockStream('late-existing') });
    });
    expect(await store().streamVersion('late-existing')).toBe(2);
  });
});
