import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { AppError } from '@siteflow/contracts';
import { createEventStore } from '@siteflow/eventstore';
import { runStreamCommand } from '@siteflow/servicekit';
import { useTestPool } from '@siteflow/testing';
import { checklistMigrations } from '../migrations.js';
import { checklistStreamId, evolve, initialChecklistState, type ChecklistEvent } from './checklist.js';
import { loadItems, loadProgress } from './checklist.read-model.js';
import { checklistCommand } from './checklist.service.js';
import type { ChecklistCommand } from './decide.js';

const actor = { user_id: 2, username: 'bob', role: 'admin' as const };
const itemId = fc.integer({ min: 1, max: 9 });
/** Commands as generated (the time is the pipeline's); ids past the template's are refused, which writes nothing. */
const command = fc.oneof(
  fc.record({ type: fc.constant('ToggleItem' as const), itemId, checked: fc.boolean() }),
  fc.record({
    type: fc.constant('AddItem' as const),
    title: fc.string({ minLength: 1, maxLength: 20 }),
    orderIndex: fc.option(fc.nat(12), { nil: undefined }),
  }),
  fc.record({ type: fc.constant('EditItem' as const), itemId, title: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ type: fc.constant('ReorderItems' as const), itemIds: fc.shuffledSubarray([1, 2, 3, 4, 5, 6, 7, 8]) }),
  fc.record({ type: fc.constant('RemoveItem' as const), itemId }),
);
type Generated = typeof command extends fc.Arbitrary<infer T> ? T : never;

function toCommand(projectId: number, g: Generated, now: Date): ChecklistCommand {
  switch (g.type) {
    case 'ToggleItem':
      return { type: g.type, data: { projectId, itemId: g.itemId, checked: g.checked, actor, now } };
    case 'AddItem':
      return { type: g.type, data: { projectId, title: g.title, description: null, orderIndex: g.orderIndex, actor } };
    case 'EditItem':
      return { type: g.type, data: { projectId, itemId: g.itemId, title: g.title, description: undefined, actor } };
    case 'ReorderItems':
      return { type: g.type, data: { projectId, itemIds: g.itemIds, actor } };
    case 'RemoveItem':
      return { type: g.type, data: { projectId, itemId: g.itemId, actor } };
  }
}

/**
 * The checklist decides on state loaded from its read model (production); its decider tests fold
 * the events. After any sequence of commands run through the pipeline, the two are the same state.
 */
describe('checklist: the state loaded from the read model is the state folded from the events', () => {
  const db = useTestPool(async (pool) => {
    const store = createEventStore({ pool, schema: 'checklist' });
    await store.migrate(checklistMigrations);
    return { store };
  });

  it('for generated command sequences', async () => {
    const { store } = db();
    let projectId = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 12 }), async (commands) => {
        projectId++;
        for (const g of commands) {
          try {
            await runStreamCommand(
              store,
              checklistCommand(projectId, (now) => toCommand(projectId, g, now)),
            );
          } catch (e) {
            if (!(e instanceof AppError)) throw e; // a refusal writes nothing
          }
        }
        const spec = checklistCommand(projectId, () => {
          throw new Error('only loaded');
        });
        const loaded = await store.transaction(async (tx) => spec.load(tx, await tx.streamVersion(spec.streamId), null));
        const folded = (await store.readStream(checklistStreamId(projectId)))
          .map((e) => ({ type: e.type, data: e.data }) as ChecklistEvent)
          .reduce(evolve, initialChecklistState);
        expect(loaded).toEqual(folded);
      }),
      { numRuns: 40 },
    );
  });

  it('a toggle is two round trips: the items read with BEGIN and the lock; the append, the item and the progress written with COMMIT', async () => {
    const { store } = db();
    const projectId = 100_000;
    const toggle = (itemId: number, checked: boolean) =>
      runStreamCommand(
        store,
        checklistCommand(projectId, (now) => ({ type: 'ToggleItem', data: { projectId, itemId, checked, actor, now } })),
      );
    // Creates the checklist (the template), then prepares the toggle's statements on the connection.
    await toggle(1, true);
    await toggle(2, true);
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const outcome = await toggle(1, false);
    const trips = sent.mock.calls
      .map((c) => (typeof c[0] === 'string' ? c[0] : ((c[0] as { text?: string }).text ?? '')))
      .filter((t) => !t.startsWith('PREPARE '));
    sent.mockRestore();
    expect(trips).toHaveLength(2);
    expect(trips[0]).toMatch(/^BEGIN;\n/);
    expect(trips[1]).toMatch(/\nCOMMIT$/);
    // What the reply says is what was stored.
    expect(outcome.items.filter((i) => i.checked).map((i) => i.id)).toEqual([2]);
    expect(outcome.version).toBe(await store.streamVersion(checklistStreamId(projectId)));
    const stored = await store.transaction(async (tx) => ({
      items: await loadItems(tx.client, projectId),
      progress: await loadProgress(tx.client, projectId),
    }));
    expect(stored.items).toEqual(outcome.items);
    expect(stored.progress).toEqual(outcome.progress);
    expect(stored.progress?.completed_items).toBe(1);
  });
});
