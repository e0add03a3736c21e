import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, createEventStore, type RecordedEvent } from './index.js';
import { newEvents, useMigratedStore } from './test-fixtures/harness.js';

/**
 * `tx.appendAtCommit`: the append sent in COMMIT's round trip. What a caller may rely on: the
 * events are stored exactly as `append` stores them, a stream that moved fails the whole
 * transaction (nothing commits), and whatever the transaction does next through the store sees
 * the append.
 */
const { env, store } = useMigratedStore('riding_test', 6);

const stored = async (streamId: string) =>
  (await store().readStream(streamId)).map((e) => ({ version: e.version, type: e.type, data: e.data }));

describe('appendAtCommit', () => {
  it('stores what append stores, and hands the events as stored to afterCommit once committed', async () => {
    const seen: RecordedEvent[][] = [];
    const s = createEventStore({ pool: env().newPool(2), schema: 'riding_test', afterCommit: (events) => seen.push([...events]) });
    const next = await s.transaction(async (tx) => {
      const version = await tx.lockStream('ride-1');
      expect(version).toBe(0);
      const { nextVersion } = await tx.appendAtCommit('ride-1', newEvents(2, 'Rode'), { expectedVersion: version });
      // Not sent yet: another connection sees nothing until COMMIT.
      expect(await store().streamVersion('ride-1')).toBe(0);
      return nextVersion;
    });
    expect(next).toBe(2);
    expect(await stored('ride-1')).toEqual([
      { version: 1, type: 'Rode', data: { n: 0 } },
      { version: 2, type: 'Rode', data: { n: 1 } },
    ]);
    expect(await store().streamVersion('ride-1')).toBe(2);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.map((e) => [e.streamId, e.version, e.type])).toEqual([
      ['ride-1', 1, 'Rode'],
      ['ride-1', 2, 'Rode'],
    ]);
    // As stored: positions and transaction ids from the database, the broadcast kept.
    expect(seen[0]?.[0]?.globalPosition).toBeGreaterThan(0);
    expect(seen[0]?.[0]?.broadcast).toEqual({ event: 'thing:happened', payload: { n: 0 } });

    // After an existing version.
    await store().transaction(async (tx) => {
      const version = await tx.lockStream('ride-1');
      await tx.appendAtCommit('ride-1', newEvents(1, 'Again'), { expectedVersion: version });
    });
    expect((await stored('ride-1')).map((e) => e.version)).toEqual([1, 2, 3]);
  });

  it('a stream that moved fails the statement: nothing commits (not even what rode beside it), and the transaction throws ConcurrencyError', async () => {
    await store().transaction((tx) => tx.append('moved-1', newEvents(2), { expectedVersion: 'no_stream' }));
    await store().pool.query('CREATE TABLE IF NOT EXISTS riding_test.side (k text PRIMARY KEY)');
    const seen: RecordedEvent[][] = [];
    const s = createEventStore({ pool: env().newPool(2), schema: 'riding_test', afterCommit: (events) => seen.push([...events]) });

    // Behind the stream (version 1 of 2), ahead of it (5), and "new" (0) when it exists.
    for (const expectedVersion of [1, 5, 0]) {
      const err = await s
        .transaction(async (tx) => {
          await tx.reserveStreams(['moved-1']);
          tx.atCommit({ text: 'INSERT INTO riding_test.side (k) VALUES ($1)', values: [`side-${expectedVersion}`] });
          await tx.appendAtCommit('moved-1', newEvents(1, 'Late'), { expectedVersion });
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ streamId: 'moved-1', expected: expectedVersion === 0 ? 'no_stream' : expectedVersion });
    }
    expect((await stored('moved-1')).map((e) => e.type)).toEqual(['ThingHappened', 'ThingHappened']);
    expect(await store().streamVersion('moved-1')).toBe(2);
    expect((await store().pool.query('SELECT k FROM riding_test.side')).rows).toEqual([]);
    expect(seen).toEqual([]);
    // The connections are fine afterwards.
    await s.transaction(async (tx) => {
      const version = await tx.lockStream('moved-1');
      await tx.appendAtCommit('moved-1', newEvents(1, 'OnTime'), { expectedVersion: version });
    });
    expect((await stored('moved-1')).map((e) => e.type)).toEqual(['ThingHappened', 'ThingHappened', 'OnTime']);
  });

  it('20 transactions creating one stream at once: each commits its event at a version of its own or throws ConcurrencyError and commits nothing', async () => {
    await store().pool.query('CREATE TABLE IF NOT EXISTS riding_test.racers (n int PRIMARY KEY)');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, n) =>
        store().transaction(async (tx) => {
          const version = await tx.lockStream('race-new');
          tx.atCommit({ text: 'INSERT INTO riding_test.racers (n) VALUES ($1)', values: [n] });
          return (await tx.appendAtCommit('race-new', [{ type: 'Raced', data: { n }, projectId: 1 }], { expectedVersion: version }))
            .nextVersion;
        }),
      ),
    );
    const won = results.flatMap((r, n) => (r.status === 'fulfilled' ? [{ n, version: r.value }] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    for (const err of lost) expect(err).toBeInstanceOf(ConcurrencyError);
    expect(won.length).toBeGreaterThanOrEqual(1);
    // The stream holds exactly the winners' events, at versions 1…k, each where its reply said.
    const events = await store().readStream('race-new');
    expect(events.map((e) => e.version)).toEqual(won.map((_, i) => i + 1));
    expect(new Map(events.map((e) => [(e.data as { n: number }).n, e.version]))).toEqual(new Map(won.map((w) => [w.n, w.version])));
    // And nothing of a loser was committed beside its append.
    const racers = await store().pool.query<{ n: number }>('SELECT n FROM riding_test.racers ORDER BY n');
    expect(racers.rows.map((r) => r.n)).toEqual(won.map((w) => w.n).sort((a, b) => a - b));
  });

  it('whatever the transaction does next through the store sends the append first, and sees it', async () => {
    const seen: RecordedEvent[][] = [];
    const s = createEventStore({ pool: env().newPool(2), schema: 'riding_test', afterCommit: (events) => seen.push([...events]) });
    await s.transaction(async (tx) => {
      await tx.appendAtCommit('touch-1', newEvents(1, 'First'), { expectedVersion: 0 });
      // Read: the append was sent before it.
      expect((await tx.readStream('touch-1')).map((e) => e.type)).toEqual(['First']);
      expect(await tx.streamVersion('touch-1')).toBe(1);
      // A second riding append to the same stream, then an ordinary one after it.
      await tx.appendAtCommit('touch-1', newEvents(1, 'Second'), { expectedVersion: 1 });
      await tx.append('touch-1', newEvents(1, 'Third'), { expectedVersion: 2 });
      await tx.appendAtCommit('touch-2', newEvents(1, 'Other'), { expectedVersion: 0 });
    });
    expect((await stored('touch-1')).map((e) => [e.version, e.type])).toEqual([
      [1, 'First'],
      [2, 'Second'],
      [3, 'Third'],
    ]);
    expect((await stored('touch-2')).map((e) => e.type)).toEqual(['Other']);
    // Once, in append order, after COMMIT.
    expect(seen.map((events) => events.map((e) => `${e.streamId}:${e.version}`))).toEqual([
      ['touch-1:1', 'touch-1:2', 'touch-1:3', 'touch-2:1'],
    ]);
  });

  it('refuses an existing stream reserved after the first write, and a bad expected version, before sending anything', async () => {
    await store().transaction((tx) => tx.append('late-1', newEvents(1), { expectedVersion: 'no_stream' }));
    await expect(
      store().transaction(async (tx) => {
        await tx.append('late-other', newEvents(1), { expectedVersion: 'no_stream' }); // takes a transaction id
        await tx.appendAtCommit('late-1', newEvents(1), { expectedVersion: 1 });
      }),
    ).rejects.toMatchObject({ name: 'StreamNotReserved', streamId: 'late-1' });
    expect(await store().streamVersion('late-other')).toBe(0);
    for (const expectedVersion of [-1, 1.5, Number.NaN]) {
      await expect(store().transaction((tx) => tx.appendAtCommit('late-1', newEvents(1), { expectedVersion }))).rejects.toBeInstanceOf(
        RangeError,
      );
    }
    expect(await store().streamVersion('late-1')).toBe(1);
  });

  it('stores any data as given, each event its own, riding COMMIT or appended at once', async () => {
    // Text Postgres takes in jsonb: no NUL, no lone surrogate.
    const text = fc.string({ unit: fc.constantFrom("'", '\\', '"', 'a', 'é', '😀', '\n', '\t', ' ', '\u0001', '[', '{') });
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(text, tie('v'), { maxKeys: 3 }),
      ),
    })).v;
    const data = fc.array(fc.dictionary(text, value, { maxKeys: 4 }), { minLength: 1, maxLength: 4 });
    const seen: RecordedEvent[][] = [];
    const s = createEventStore({ pool: env().newPool(2), schema: 'riding_test', afterCommit: (events) => seen.push([...events]) });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(data, fc.boolean(), async (datas, riding) => {
        const streamId = `any-data-${n++}`;
        const events = datas.map((d) => ({ type: 'Any', data: d, projectId: 1 }));
        seen.length = 0;
        const returned = await s.transaction(async (tx) => {
          const version = await tx.lockStream(streamId);
          if (riding) await tx.appendAtCommit(streamId, events, { expectedVersion: version });
          else return (await tx.append(streamId, events, { expectedVersion: version })).recorded;
        });
        expect((await stored(streamId)).map((e) => e.data)).toEqual(datas);
        // What the append hands back (and afterCommit gets) is what a read of the table gives.
        const fromTable = await store().readStream(streamId);
        expect(seen).toEqual([fromTable]);
        if (returned) expect(returned).toEqual(fromTable);
      }),
      { numRuns: 60 },
    );
  });

  it('hands back the data as stored: what JSON drops is gone, a date is its ISO text', async () => {
    const seen: RecordedEvent[][] = [];
    const s = createEventStore({ pool: env().newPool(2), schema: 'riding_test', afterCommit: (events) => seen.push([...events]) });
    const data = {
      kept: 1,
      dropped: undefined,
      at: new Date('2026-12-03T10:00:00.000Z'),
      nested: { gone: undefined, list: [1, undefined] },
    };
    for (const riding of [true, false]) {
      const streamId = `as-stored-${String(riding)}`;
      seen.length = 0;
      await s.transaction(async (tx) => {
        const version = await tx.lockStream(streamId);
        const events = [{ type: 'Odd', data, projectId: 1 }];
        if (riding) await tx.appendAtCommit(streamId, events, { expectedVersion: version });
        else await tx.append(streamId, events, { expectedVersion: version });
      });
      const asStored = { kept: 1, at: '2026-12-03T10:00:00.000Z', nested: { list: [1, null] } };
      expect(seen[0]?.[0]?.data).toStrictEqual(asStored);
      expect((await store().readStream(streamId))[0]?.data).toStrictEqual(asStored);
    }
  });
});
