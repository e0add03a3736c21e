import { describe, expect, it } from 'vitest';
import { ConcurrencyError, createEventStore, type Migration } from './index.js';
import { deferred, eventually, newEvents, useMigratedStore } from './test-fixtures/harness.js';

const { env, store } = useMigratedStore('store_test', 25);

describe('append', () => {
  it('lets exactly one of 20 concurrent appends at the same expected version win', async () => {
    const attempt = (expectedVersion: 'no_stream' | number) =>
      Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          store().transaction((tx) => tx.append('race-1', [{ type: 'Claimed', data: { by: i }, projectId: 1 }], { expectedVersion })),
        ),
      );

    for (const [expectedVersion, nextVersion] of [
      ['no_stream', 1],
      [1, 2],
    ] as const) {
      const results = await attempt(expectedVersion);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      expect(won).toHaveLength(1);
      expect(won[0]!.value.nextVersion).toBe(nextVersion);
      expect(lost).toHaveLength(19);
      for (const err of lost) {
        expect(err).toBeInstanceOf(ConcurrencyError);
        expect(err).toMatchObject({ name: 'ConcurrencyError', streamId: 'race-1', expected: expectedVersion });
      }
      const events = await store().readStream('race-1');
      expect(events.map((e) => e.version)).toEqual(Array.from({ length: nextVersion }, (_, i) => i + 1));
      expect(await store().streamVersion('race-1')).toBe(nextVersion);
    }
  });

  it("reports the actual version on a mismatch, and 'any' appends after whatever is there", async () => {
    await store().transaction((tx) => tx.append('mismatch', newEvents(2), { expectedVersion: 'no_stream' }));
    const err = await store()
      .transaction((tx) => tx.append('mismatch', newEvents(1), { expectedVersion: 5 }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: 5, actual: 2 });

    const results = await Promise.all(
      Array.from({ length: 10 }, () => store().transaction((tx) => tx.append('mismatch', newEvents(1), { expectedVersion: 'any' }))),
    );
    expect(results.map((r) => r.nextVersion).sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect((await store().readStream('mismatch', { fromVersion: 11 })).map((e) => e.version)).toEqual([11, 12]);
  });

  it('records what was appended', async () => {
    const now = new Date('2025-01-02T03:04:05.000Z');
    const id = crypto.randomUUID();
    const { recorded, nextVersion } = await store().transaction((tx) =>
      tx.append(
        'fields',
        [
          { id, type: 'A', data: { x: 1 }, projectId: null, userId: 42, metadata: { causation: 'c1' } },
          { type: 'B', data: {}, projectId: 9, broadcast: { event: 'b:happened', payload: { y: 2 } } },
        ],
        { expectedVersion: 0, now },
      ),
    );
    expect(nextVersion).toBe(2);
    expect(recorded[0]).toMatchObject({
      eventId: id,
      streamId: 'fields',
      version: 1,
      type: 'A',
      data: { x: 1 },
      metadata: { causation: 'c1' },
      projectId: null,
      userId: 42,
      broadcast: null,
      occurredAt: now,
    });
    expect(recorded[1]).toMatchObject({ version: 2, projectId: 9, userId: null, broadcast: { event: 'b:happened', payload: { y: 2 } } });
    expect(recorded[1]!.globalPosition).toBe(recorded[0]!.globalPosition + 1);
    expect(recorded[0]!.transactionId).toBe(recorded[1]!.transactionId);
    expect(await store().readStream('fields')).toEqual(recorded);
  });
});

describe('readAll', () => {
  it('never skips a transaction that commits after a later one', async () => {
    const [before] = (await store().transaction((tx) => tx.append('late-z', newEvents(1, 'LateZ'), { expectedVersion: 'no_stream' })))
      .recorded;
    // A reader that has caught up with everything committed so far.
    const caughtUp = await eventually(
      () => store().readAll({ limit: 10_000 }),
      (all) => all.at(-1)?.eventId === before!.eventId,
    );
    const checkpoint = caughtUp.at(-1)!;
    expect(checkpoint.eventId).toBe(before!.eventId);

    const aAppended = deferred();
    const releaseA = deferred();
    const txA = store().transaction(async (tx) => {
      await tx.append('late-a', newEvents(1, 'LateA'), { expectedVersion: 'no_stream' });
      aAppended.resolve();
      await releaseA.promise;
    });
    await aAppended.promise;
    let bId: string;
    try {
      const b = await store().transaction((tx) => tx.append('late-b', newEvents(1, 'LateB'), { expectedVersion: 'no_stream' }));
      bId = b.recorded[0]!.eventId;
      // B is committed and a reader by global position alone would take it (and later skip A) …
      const { rows: naive } = await store().pool.query<{ type: string }>('SELECT type FROM store_test.events WHERE global_position > $1', [
        checkpoint.globalPosition,
      ]);
      expect(naive.map((r) => r.type)).toEqual(['LateB']);
      // … but A is still running with an older xid, so the global reader holds B back.
      expect(await store().readAll({ after: checkpoint, limit: 100 })).toEqual([]);
      expect((await store().readAll({ limit: 10_000 })).map((e) => e.type)).not.toContain('LateB');
    } finally {
      releaseA.resolve();
      await txA;
    }
    const after = await eventually(
      () => store().readAll({ after: checkpoint, limit: 100 }),
      (events) => events.length >= 2,
    );
    expect(after.map((e) => e.type)).toEqual(['LateA', 'LateB']);
    expect(after[1]!.eventId).toBe(bId);
    expect(BigInt(after[0]!.transactionId)).toBeLessThan(BigInt(after[1]!.transactionId));
    // Continuing from B's checkpoint yields nothing more.
    expect(await store().readAll({ after: after[1]!, limit: 100 })).toEqual([]);
  });

  it('pages in global order', async () => {
    const all = await store().readAll({ limit: 10_000 });
    expect(all.length).toBeGreaterThan(10);
    const paged = [];
    let after;
    for (;;) {
      const page = await store().readAll({ after, limit: 7 });
      if (page.length === 0) break;
      paged.push(...page);
      after = page.at(-1);
    }
    expect(paged.map((e) => e.eventId)).toEqual(all.map((e) => e.eventId));
  });
});

describe('migrate', () => {
  const migrations: Migration[] = [
    {
      id: 2,
      name: 'count runs',
      up: async (client) => {
        await client.query('INSERT INTO runs (migration) VALUES (2)');
      },
    },
    { id: 1, name: 'create runs', up: 'CREATE TABLE runs (migration int NOT NULL)' },
  ];

  it('applies each migration once when 5 instances migrate at the same time', async () => {
    const stores = Array.from({ length: 5 }, () => createEventStore({ pool: env().newPool(2), schema: 'migrate_test' }));
    await Promise.all(stores.map((s) => s.migrate(migrations)));

    const { rows: runs } = await store().pool.query('SELECT migration FROM migrate_test.runs');
    expect(runs).toEqual([{ migration: 2 }]);
    const { rows: applied } = await store().pool.query('SELECT id, name FROM migrate_test.schema_migrations ORDER BY id');
    expect(applied).toEqual([
      { id: 1, name: 'create runs' },
      { id: 2, name: 'count runs' },
    ]);

    // A later release adds one migration: only that one runs.
    const next: Migration = { id: 3, name: 'count again', up: 'INSERT INTO runs (migration) VALUES (3)' };
    await Promise.all(stores.map((s) => s.migrate([...migrations, next])));
    const { rows: runs2 } = await store().pool.query('SELECT migration FROM migrate_test.runs ORDER BY migration');
    expect(runs2).toEqual([{ migration: 2 }, { migration: 3 }]);

    // A failing migration leaves nothing behind.
    const broken: Migration[] = [
      { id: 4, name: 'fine', up: 'INSERT INTO runs (migration) VALUES (4)' },
      { id: 5, name: 'broken', up: 'SELECT 1/0' },
    ];
    await expect(stores[0]!.migrate([...migrations, next, ...broken])).rejects.toThrow(/division by zero/);
    const { rows: ids } = await store().pool.query<{ id: number }>('SELECT id FROM migrate_test.schema_migrations ORDER BY id');
    expect(ids.map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it('rejects a schema name that is not a plain identifier', () => {
    expect(() => createEventStore({ pool: store().pool, schema: 'Bad; DROP' })).toThrow(/invalid event store schema name/);
  });
});

describe('transaction', () => {
  it('commits or rolls back the event and the read model together', async () => {
    const rm = createEventStore({ pool: store().pool, schema: 'readmodel_test' });
    await rm.migrate([{ id: 1, name: 'counts', up: 'CREATE TABLE counts (stream_id text PRIMARY KEY, n int NOT NULL)' }]);
    const appendAndProject = (fail: boolean) =>
      rm.transaction(async (tx) => {
        const { nextVersion } = await tx.append('counted', newEvents(1), { expectedVersion: 'any' });
        await tx.client.query('INSERT INTO readmodel_test.counts VALUES ($1, $2) ON CONFLICT (stream_id) DO UPDATE SET n = EXCLUDED.n', [
          'counted',
          nextVersion,
        ]);
        if (fail) throw new Error('boom after append');
        return nextVersion;
      });

    await expect(appendAndProject(true)).rejects.toThrow('boom after append');
    expect(await rm.streamVersion('counted')).toBe(0);
    expect(await rm.readStream('counted')).toEqual([]);
    expect((await store().pool.query('SELECT * FROM readmodel_test.counts')).rows).toEqual([]);

    expect(await appendAndProject(false)).toBe(1);
    expect(await rm.readStream('counted')).toHaveLength(1);
    expect((await store().pool.query('SELECT * FROM readmodel_test.counts')).rows).toEqual([{ stream_id: 'counted', n: 1 }]);
  });

  it('readStream forUpdate makes a second writer wait for the first', async () => {
    await store().transaction((tx) => tx.append('locked', newEvents(1), { expectedVersion: 'no_stream' }));
    const firstHolds = deferred();
    const releaseFirst = deferred();
    const order: string[] = [];
    const first = store().transaction(async (tx) => {
      const events = await tx.readStream('locked', { forUpdate: true });
      firstHolds.resolve();
      await releaseFirst.promise;
      await tx.append('locked', newEvents(1), { expectedVersion: events.length });
      order.push('first');
    });
    await firstHolds.promise;
    const second = store().transaction(async (tx) => {
      const events = await tx.readStream('locked', { forUpdate: true });
      await tx.append('locked', newEvents(1), { expectedVersion: events.length });
      order.push('second');
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual([]);
    releaseFirst.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(await store().streamVersion('locked')).toBe(3);
  });

  it("lockStream returns the version and makes a second writer wait, which then sees the first one's append", async () => {
    expect(await store().transaction((tx) => tx.lockStream('lock-me'))).toBe(0); // no stream yet: version 0
    await store().transaction((tx) => tx.append('lock-me', newEvents(2), { expectedVersion: 'no_stream' }));
    const firstHolds = deferred();
    const releaseFirst = deferred();
    const seen: number[] = [];
    const first = store().transaction(async (tx) => {
      const version = await tx.lockStream('lock-me');
      seen.push(version);
      firstHolds.resolve();
      await releaseFirst.promise;
      await tx.append('lock-me', newEvents(1), { expectedVersion: version });
    });
    await firstHolds.promise;
    const second = store().transaction(async (tx) => {
      const version = await tx.lockStream('lock-me');
      seen.push(version);
      await tx.append('lock-me', newEvents(1), { expectedVersion: version });
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([2]);
    releaseFirst.resolve();
    await Promise.all([first, second]);
    expect(seen).toEqual([2, 3]);
    expect(await store().streamVersion('lock-me')).toBe(4);
  });
});

describe('afterCommit (fast copies)', () => {
  it("is given a transaction's appended events in order once COMMIT succeeded, never a rolled-back one's", async () => {
    const seen: Array<Array<{ streamId: string; version: number; type: string }>> = [];
    let committedWhenCalled: number | null = null;
    const s = createEventStore({
      pool: env().newPool(2),
      schema: 'store_test',
      afterCommit: (events) => {
        seen.push(events.map((e) => ({ streamId: e.streamId, version: e.version, type: e.type })));
        // Called after the commit: the events are already readable from another connection.
        void s.readStream('fast-1').then((read) => (committedWhenCalled = read.length));
      },
    });
    await s.transaction(async (tx) => {
      await tx.append(
        'fast-1',
        [
          { type: 'A', data: {}, projectId: 1 },
          { type: 'B', data: {}, projectId: 1 },
        ],
        { expectedVersion: 'no_stream' },
      );
      await tx.appendToStreams([{ streamId: 'fast-2', expectedVersion: 0, events: [{ type: 'C', data: {}, projectId: 1 }] }]);
    });
    expect(seen).toEqual([
      [
        { streamId: 'fast-1', version: 1, type: 'A' },
        { streamId: 'fast-1', version: 2, type: 'B' },
        { streamId: 'fast-2', version: 1, type: 'C' },
      ],
    ]);
    await eventually(
      () => Promise.resolve(committedWhenCalled),
      (n) => n === 2,
      5000,
    );

    // Rolled back (the command threw after appending), a conflict, a read-only snapshot: nothing.
    await expect(
      s.transaction(async (tx) => {
        await tx.append('fast-1', newEvents(1), { expectedVersion: 2 });
        throw new Error('decided otherwise');
      }),
    ).rejects.toThrow('decided otherwise');
    await expect(s.transaction((tx) => tx.append('fast-1', newEvents(1), { expectedVersion: 1 }))).rejects.toBeInstanceOf(ConcurrencyError);
    await s.snapshot((tx) => tx.streamVersion('fast-1'));
    expect(seen).toHaveLength(1);
  });

  it('a listener that throws does not fail the command it follows', async () => {
    const s = createEventStore({
      pool: env().newPool(1),
      schema: 'store_test',
      afterCommit: () => {
        throw new Error('listener broke');
      },
    });
    const { nextVersion } = await s.transaction((tx) => tx.append('fast-3', newEvents(1), { expectedVersion: 'no_stream' }));
    expect(nextVersion).toBe(1);
    expect(await s.streamVersion('fast-3')).toBe(1);
  });
});
