import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { ConcurrencyError, StreamNotReserved } from './index.js';
import { newEvents, useMigratedStore } from './test-fixtures/harness.js';

const { store } = useMigratedStore('append_many_test', 4);

const versionsOf = async (prefix: string) =>
  (
    await store().pool.query<{ stream_id: string; version: number }>(
      `SELECT stream_id, version FROM append_many_test.events WHERE stream_id LIKE $1 ORDER BY stream_id, version`,
      [`${prefix}%`],
    )
  ).rows.map((r) => `${r.stream_id}@${r.version}`);

/** tx.lockStreams, tx.readStreams and tx.appendToStreams: a group commit's statements (presence's sessions). */
describe('several streams in one statement', () => {
  it('appends to new and existing streams at once, each after its own version, and reads them back ahead', async () => {
    await store().transaction((tx) => tx.append('many-old', newEvents(2), { expectedVersion: 'no_stream' }));
    const results = await store().transaction(async (tx) => {
      const versions = await tx.lockStreams(['many-old', 'many-new']);
      expect(Object.fromEntries(versions)).toEqual({ 'many-old': 2, 'many-new': 0 });
      await tx.readStreams(['many-old', 'many-new']);
      expect((await tx.readStream('many-old')).map((e) => e.version)).toEqual([1, 2]);
      expect(await tx.readStream('many-new')).toEqual([]);
      const appended = await tx.appendToStreams([
        { streamId: 'many-old', events: newEvents(1), expectedVersion: 2 },
        { streamId: 'many-new', events: newEvents(3), expectedVersion: 0 },
      ]);
      // What was read ahead is not served once a stream was appended to; a lock gives the new version.
      expect((await tx.readStream('many-old')).map((e) => e.version)).toEqual([1, 2, 3]);
      expect(await tx.lockStream('many-new')).toBe(3);
      return appended;
    });
    expect(results.map((r) => [r.nextVersion, r.recorded.map((e) => e.version)])).toEqual([
      [3, [3]],
      [3, [1, 2, 3]],
    ]);
    expect(await versionsOf('many-')).toEqual(['many-new@1', 'many-new@2', 'many-new@3', 'many-old@1', 'many-old@2', 'many-old@3']);
  });

  it('reads ahead only streams that exist: one locked without a row is empty without asking', async () => {
    await store().transaction((tx) => tx.append('ahead-old', newEvents(1), { expectedVersion: 'no_stream' }));
    const asked: string[] = [];
    await store().transaction(async (tx) => {
      await tx.lockStreams(['ahead-new-1', 'ahead-new-2', 'ahead-old']);
      const sent = vi.spyOn(pg.Client.prototype, 'query');
      try {
        await tx.readStreams(['ahead-new-1', 'ahead-new-2']);
        expect(sent).not.toHaveBeenCalled();
        expect(await tx.readStream('ahead-new-1')).toEqual([]);
        // With an existing stream among them, that one alone is read.
        await tx.readStreams(['ahead-old', 'ahead-new-2']);
        for (const call of sent.mock.calls) asked.push(JSON.stringify(call[0]));
      } finally {
        sent.mockRestore();
      }
      expect((await tx.readStream('ahead-old')).map((e) => e.version)).toEqual([1]);
      await tx.appendToStreams([{ streamId: 'ahead-new-1', events: newEvents(1), expectedVersion: 0 }]);
    });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain('ahead-old');
    expect(asked[0]).not.toContain('ahead-new-2');
    expect(await versionsOf('ahead-')).toEqual(['ahead-new-1@1', 'ahead-old@1']);
  });

  it('a stream that is not at its expected version fails the whole append, and nothing of it is committed', async () => {
    await store().transaction((tx) => tx.append('stale-a', newEvents(1), { expectedVersion: 'no_stream' }));
    const attempt = store().transaction(async (tx) => {
      await tx.reserveStreams(['stale-a', 'stale-b']);
      return tx.appendToStreams([
        { streamId: 'stale-b', events: newEvents(1), expectedVersion: 0 },
        { streamId: 'stale-a', events: newEvents(1), expectedVersion: 5 },
      ]);
    });
    await expect(attempt).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await versionsOf('stale-')).toEqual(['stale-a@1']);
  });

  it('an existing stream first reserved after the transaction wrote is refused, as append refuses it', async () => {
    await store().transaction((tx) => tx.append('late-x', newEvents(1), { expectedVersion: 'no_stream' }));
    const attempt = store().transaction(async (tx) => {
      await tx.append('late-y', newEvents(1), { expectedVersion: 'no_stream' });
      return tx.appendToStreams([{ streamId: 'late-x', events: newEvents(1), expectedVersion: 1 }]);
    });
    await expect(attempt).rejects.toBeInstanceOf(StreamNotReserved);
    const locking = store().transaction(async (tx) => {
      await tx.append('late-z', newEvents(1), { expectedVersion: 'no_stream' });
      return tx.lockStreams(['late-x']);
    });
    await expect(locking).rejects.toBeInstanceOf(StreamNotReserved);
    expect(await versionsOf('late-')).toEqual(['late-x@1']);
  });
});
