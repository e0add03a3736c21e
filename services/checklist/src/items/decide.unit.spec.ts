import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@siteflow/testing/decider';
import { evolve, initialChecklistState, type ChecklistEvent } from './checklist.js';
import { decide, type ChecklistCommand } from './decide.js';

const now = new Date('2026-11-24T10:00:00.000Z');
const alice = { user_id: 1, username: 'alice', role: 'admin' as const };
const bob = { user_id: 2, username: 'bob', role: 'customer' as const };

const created = (titles: string[]): ChecklistEvent => ({
  type: 'ChecklistCreated',
  data: { project_id: 1, items: titles.map((title, i) => ({ item_id: i + 1, title, description: null })), created_at: now.toISOString() },
});
const toggled = (itemId: number, checked: boolean, by = bob): ChecklistEvent => ({
  type: 'ItemToggled',
  data: { project_id: 1, item_id: itemId, checked, user_id: by.user_id, username: by.username, toggled_at: now.toISOString() },
});
const progress = (p: number, completed: number, total: number): ChecklistEvent => ({
  type: 'ProgressChanged',
  data: { project_id: 1, progress: p, completed_items: completed, total_items: total },
});
const toggle = (itemId: number, checked: boolean, actor = bob): ChecklistCommand => ({
  type: 'ToggleItem',
  data: { projectId: 1, itemId, checked, actor, now },
});

const given = deciderSpec({ decide, evolve, initialState: initialChecklistState });

describe('checklist decider', () => {
  it('creates the template once, numbering the items', () => {
    given([])
      .when({
        type: 'CreateChecklist',
        data: {
          projectId: 1,
          template: [
            { title: 'a', description: null },
            { title: 'b', description: null },
          ],
          now,
        },
      })
      .then([created(['a', 'b'])]);
    given([created(['a'])])
      .when({ type: 'CreateChecklist', data: { projectId: 1, template: [{ title: 'x', description: null }], now } })
      .then([]);
  });

  it('a toggle records who and when, then the progress after it', () => {
    given([created(['a', 'b', 'c', 'd'])])
      .when(toggle(2, true))
      .then([toggled(2, true), progress(25, 1, 4)]);
  });

  it('progress has one decimal: 27 of 40 is 67.5', () => {
    const titles = Array.from({ length: 40 }, (_, i) => `item ${i + 1}`);
    const history = [created(titles), ...Array.from({ length: 26 }, (_, i) => toggled(i + 1, true))];
    given(history)
      .when(toggle(40, true))
      .then([toggled(40, true), progress(67.5, 27, 40)]);
    given([created(['a', 'b', 'c']), toggled(1, true)])
      .when(toggle(2, true))
      .then([toggled(2, true), progress(66.7, 2, 3)]);
  });

  it('setting the value an item already has is no event', () => {
    given([created(['a'])])
      .when(toggle(1, false))
      .then([]);
    given([created(['a']), toggled(1, true)])
      .when(toggle(1, true))
      .then([]);
  });

  it('unchecking lowers the progress', () => {
    given([created(['a', 'b']), toggled(1, true), toggled(2, true)])
      .when(toggle(1, false))
      .then([toggled(1, false), progress(50, 1, 2)]);
  });

  it('an unknown item is not_found; a project without a checklist too', () => {
    given([created(['a'])])
      .when(toggle(9, true))
      .thenFails('not_found');
    given([]).when(toggle(1, true)).thenFails('not_found');
  });

  it('an admin adds an item at a position with the next id; the total moves', () => {
    given([created(['a', 'b']), toggled(1, true)])
      .when({ type: 'AddItem', data: { projectId: 1, title: 'new', description: 'why', orderIndex: 0, actor: alice } })
      .then([
        { type: 'ItemAdded', data: { project_id: 1, item_id: 3, title: 'new', description: 'why', order_index: 0, added_by: 1 } },
        progress(33.3, 1, 3),
      ]);
  });

  it('a customer may toggle but not change the template', () => {
    const history = [created(['a', 'b'])];
    given(history)
      .when({ type: 'AddItem', data: { projectId: 1, title: 'x', description: null, orderIndex: undefined, actor: bob } })
      .thenFails('forbidden');
    given(history)
      .when({ type: 'EditItem', data: { projectId: 1, itemId: 1, title: 'x', description: undefined, actor: bob } })
      .thenFails('forbidden');
    given(history)
      .when({ type: 'ReorderItems', data: { projectId: 1, itemIds: [2, 1], actor: bob } })
      .thenFails('forbidden');
    given(history)
      .when({ type: 'RemoveItem', data: { projectId: 1, itemId: 1, actor: bob } })
      .thenFails('forbidden');
  });

  it('an edit that changes nothing is no event; a real one keeps what it does not name', () => {
    given([created(['a'])])
      .when({ type: 'EditItem', data: { projectId: 1, itemId: 1, title: 'a', description: undefined, actor: alice } })
      .then([]);
    given([created(['a'])])
      .when({ type: 'EditItem', data: { projectId: 1, itemId: 1, title: undefined, description: 'more', actor: alice } })
      .then([{ type: 'ItemEdited', data: { project_id: 1, item_id: 1, title: 'a', description: 'more', edited_by: 1 } }]);
  });

  it('a reorder must name every item exactly once', () => {
    const history = [created(['a', 'b', 'c'])];
    given(history)
      .when({ type: 'ReorderItems', data: { projectId: 1, itemIds: [3, 1], actor: alice } })
      .thenFails('invalid_payload');
    given(history)
      .when({ type: 'ReorderItems', data: { projectId: 1, itemIds: [3, 1, 1], actor: alice } })
      .thenFails('invalid_payload');
    given(history)
      .when({ type: 'ReorderItems', data: { projectId: 1, itemIds: [3, 1, 2], actor: alice } })
      .then([{ type: 'ItemsReordered', data: { project_id: 1, item_ids: [3, 1, 2], reordered_by: 1 } }]);
    const after = [
      ...history,
      { type: 'ItemsReordered', data: { project_id: 1, item_ids: [3, 1, 2], reordered_by: 1 } } as ChecklistEvent,
    ].reduce(evolve, initialChecklistState);
    expect(after.status === 'created' && after.items.map((i) => [i.id, i.order_index])).toEqual([
      [3, 0],
      [1, 1],
      [2, 2],
    ]);
  });

  it('removing a checked item takes it out of both counts', () => {
    given([created(['a', 'b']), toggled(1, true)])
      .when({ type: 'RemoveItem', data: { projectId: 1, itemId: 1, actor: alice } })
      .then([{ type: 'ItemRemoved', data: { project_id: 1, item_id: 1, removed_by: 1 } }, progress(0, 0, 1)]);
  });
});
