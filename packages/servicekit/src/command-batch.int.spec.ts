import { describe, expect, it } from 'vitest';
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
});
