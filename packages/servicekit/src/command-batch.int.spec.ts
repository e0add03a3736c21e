import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventStore } from '@siteflow/eventstore';
import { useTestPool } from '@siteflow/testing';
import { StreamCommandBatcher, type StreamCommand } from './command.js';

/** Group commit of independent stream commands (presence's sessions), on a real Postgres. */
describe('StreamCommandBatcher', () => {
  const db = useTestPool(
    async (pool) => {
      const store = createEventStore({ pool, schema: 'batch_spec' });
      await store.migrate([{ id: 1, name: 'nothing', up: 'SELECT 1' }]);
      return { store };
    },
    { max: 6 },
  );

  /** Appends one `Started` to a new stream; `refuse` makes the decider throw instead. */
  const start = (streamId: string, refuse = false): StreamCommand<number, string, number> => ({
    streamId,
    load: (_tx, version) => Promise.resolve(version),
    decide: () => {
      if (refuse) throw new Error(`refused ${streamId}`);
      return ['Started'];
    },
    evolve: (n) => n + 1,
    toNewEvent: (type, after) => ({ type, data: { after }, projectId: 1 }),
    reply: ({ version }) => version,
  });

  const stored = async (prefix: string) => {
    const { rows } = await db().pool.query<{ stream_id: string }>(
      `SELECT stream_id FROM batch_spec.events WHERE stream_id LIKE $1 ORDER BY stream_id`,
      [`${prefix}%`],
    );
    return rows.map((r) => r.stream_id);
  };

  it('commands that arrive together commit together: every one stored and answered, in fewer transactions', async () => {
    const batcher = new StreamCommandBatcher(db().store, { maxBatch: 64, concurrency: 2 });
    const ids = Array.from({ length: 40 }, (_, i) => `many-${String(i).padStart(2, '0')}`);
    const versions = await Promise.all(ids.map((id) => batcher.run(start(id))));
    expect(versions).toEqual(ids.map(() => 1));
    expect(await stored('many-')).toEqual(ids);
    expect(batcher.stats.commands).toBe(40);
    expect(batcher.stats.transactions).toBeLessThan(40);
  });

  it("one command's refusal is its own: the others of its batch are stored, it is not", async () => {
    const batcher = new StreamCommandBatcher(db().store, { maxBatch: 64, concurrency: 1 });
    const ids = Array.from({ length: 10 }, (_, i) => `mixed-${i}`);
    const outcomes = await Promise.allSettled(ids.map((id, i) => batcher.run(start(id, i === 4))));
    expect(outcomes.map((o) => o.status)).toEqual(ids.map((_, i) => (i === 4 ? 'rejected' : 'fulfilled')));
    const refused = outcomes[4];
    expect(refused?.status === 'rejected' && String(refused.reason)).toMatch(/refused mixed-4/);
    expect(await stored('mixed-')).toEqual(ids.filter((_, i) => i !== 4));
  });

  it('a second command of the same stream in one batch appends after the first', async () => {
    const batcher = new StreamCommandBatcher(db().store, { maxBatch: 64, concurrency: 1 });
    const [a, b, c] = await Promise.all([batcher.run(start('twice')), batcher.run(start('twice')), batcher.run(start('other'))]);
    expect([a, b, c]).toEqual([1, 2, 1]);
  });

  /** Folds its own stream (as presence's sessions do): the reply is every event type it held before, then its own. */
  const fold = (streamId: string, type: string): StreamCommand<string[], string, string[]> => ({
    streamId,
    load: async (tx) => (await tx.readStream(streamId)).map((e) => e.type),
    decide: () => [type],
    evolve: (seen, t) => [...seen, t],
    toNewEvent: (t) => ({ type: t, data: {}, projectId: 1 }),
    reply: ({ after }) => after,
  });

  afterEach(() => vi.restoreAllMocks());

  it('with readAhead, a batch locks and reads all its streams in one statement each: a command then costs its append alone', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `ahead-${String(i).padStart(2, '0')}`);
    // History first (one command each, outside the batch under test).
    const setup = new StreamCommandBatcher(db().store, { maxBatch: 1, concurrency: 1 });
    for (const id of ids.slice(0, 10)) await setup.run(fold(id, 'Opened'));

    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const batcher = new StreamCommandBatcher(db().store, { maxBatch: 64, concurrency: 1, readAhead: true });
    // A first command holds the batcher's one transaction until the others have all arrived.
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = batcher.run({ ...fold('ahead-first', 'Seen'), load: async () => (await gate, []) });
    // Both streams with history and new ones; `ahead-03` twice: its second command folds the first's event.
    const rest = Promise.all([...ids, 'ahead-03'].map((id) => batcher.run(fold(id, 'Seen'))));
    release();
    expect(await first).toEqual(['Seen']);
    const replies = await rest;
    expect(replies.slice(0, 10)).toEqual(ids.slice(0, 10).map(() => ['Opened', 'Seen']));
    expect(replies.slice(10, 20)).toEqual(ids.slice(10).map(() => ['Seen']));
    expect(replies[20]).toEqual(['Opened', 'Seen', 'Seen']);
    expect(batcher.stats.transactions).toBe(2);
    // The first alone: BEGIN with its lock, its append with COMMIT (its load reads nothing): 2. Then the
    // batch: BEGIN, the reservation, the row locks, the read ahead and one append for the 20 streams'
    // first commands; then ahead-03's second: its re-read (appended to since it was read ahead) and
    // its append; COMMIT: 8. Each command on its own would lock and read, then append with COMMIT:
    // 21 × 2 + 2 = 44. Not counted: a statement's preparation on a connection that has not run it
    // before (once each).
    const trips = sent.mock.calls.filter((c) => !(typeof c[0] === 'string' && c[0].startsWith('PREPARE ')));
    expect(trips.length).toBe(2 + 8);
  });

  it('commands sharing a projectMany are projected in one call, with every change; the others by their own project', async () => {
    const calls: string[][] = [];
    const projectMany = (_tx: unknown, changes: Array<{ events: string[] }>) => {
      calls.push(changes.flatMap((c) => c.events));
      return Promise.resolve();
    };
    const projected = (streamId: string, type: string): StreamCommand<string[], string, string[]> => ({
      ...fold(streamId, type),
      project: (tx, change) => projectMany(tx, [change]),
      projectMany,
    });
    const own: string[] = [];
    const batcher = new StreamCommandBatcher(db().store, { maxBatch: 64, concurrency: 1, readAhead: true });
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = batcher.run({ ...fold('proj-first', 'X'), load: async () => (await gate, []) });
    const rest = Promise.all([
      batcher.run(projected('proj-a', 'A')),
      batcher.run({ ...fold('proj-b', 'B'), project: (_tx, change) => Promise.resolve(void own.push(...change.events)) }),
      batcher.run(projected('proj-c', 'C')),
    ]);
    release();
    await first;
    expect(await rest).toEqual([['A'], ['B'], ['C']]);
    expect(calls).toEqual([['A', 'C']]);
    expect(own).toEqual(['B']);
    expect(await stored('proj-')).toEqual(['proj-a', 'proj-b', 'proj-c', 'proj-first']);
  });

  it('without readAhead, every command still reads its own stream, and sees what the batch appended before it', async () => {
    const batcher = new StreamCommandBatcher(db().store, { maxBatch: 64, concurrency: 1 });
    const replies = await Promise.all([
      batcher.run(fold('plain', 'A')),
      batcher.run(fold('plain', 'B')),
      batcher.run(fold('plain-2', 'C')),
    ]);
    expect(replies).toEqual([['A'], ['A', 'B'], ['C']]);
  });
});
