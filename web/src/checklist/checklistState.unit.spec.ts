import * as contracts from '@siteflow/contracts';
import type { ChecklistItem } from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { CHECKLIST_TITLE_MAX, computeProgress } from '@siteflow/contracts/constants';
import {
  addTo,
  checklistTitleProblem,
  focusCandidates,
  movedItemIds,
  moveStatusText,
  progressView,
  reduceChecklist,
  removeFrom,
  renameOutcome,
  tickedBy,
  withEntry,
} from './checklistState.js';

const item = (id: number, order_index: number): ChecklistItem => ({
  id,
  title: `Item ${id}`,
  description: null,
  order_index,
  checked: false,
  checked_by: null,
  checked_at: null,
});

describe('checklistTitleProblem', () => {
  it("accepts exactly what the server's schemas accept as a new and as an edited title", () => {
    const titles = [
      '',
      '   ',
      'a',
      ' Launch date ',
      'x'.repeat(CHECKLIST_TITLE_MAX),
      ` ${'x'.repeat(CHECKLIST_TITLE_MAX)} `,
      'x'.repeat(CHECKLIST_TITLE_MAX + 1),
    ];
    for (const title of titles) {
      const accepted = checklistTitleProblem(title) === null;
      expect(contracts.AddItemPayload.safeParse({ title }).success, JSON.stringify(title)).toBe(accepted);
      expect(contracts.EditItemPayload.safeParse({ item_id: 1, title }).success, JSON.stringify(title)).toBe(accepted);
    }
  });

  it('says what is wrong', () => {
    expect(checklistTitleProblem('  ')).toBe('Give the item a title.');
    expect(checklistTitleProblem('x'.repeat(300))).toBe(`Keep the title to ${CHECKLIST_TITLE_MAX} characters (this one has 300).`);
  });
});

describe('movedItemIds', () => {
  const items = [item(1, 0), item(7, 1), item(3, 2)];

  it('moves an item a place up or down and lists every item once', () => {
    expect(movedItemIds(items, 7, -1)).toEqual([7, 1, 3]);
    expect(movedItemIds(items, 7, 1)).toEqual([1, 3, 7]);
    expect(movedItemIds(items, 1, 1)).toEqual([7, 1, 3]);
    expect(movedItemIds(items, 3, -1)).toEqual([1, 3, 7]);
  });

  it('follows display order, not the order of the array', () => {
    expect(movedItemIds([item(3, 2), item(1, 0), item(7, 1)], 3, -1)).toEqual([1, 3, 7]);
  });

  it('is null at the ends, for an unknown item and for a single item', () => {
    expect(movedItemIds(items, 1, -1)).toBeNull();
    expect(movedItemIds(items, 3, 1)).toBeNull();
    expect(movedItemIds(items, 99, 1)).toBeNull();
    expect(movedItemIds([item(1, 0)], 1, -1)).toBeNull();
  });

  it('makes a payload the contracts accept', () => {
    expect(contracts.ReorderPayload.safeParse({ item_ids: movedItemIds(items, 7, 1) }).success).toBe(true);
  });

  it('leaves the items as they were', () => {
    const before = structuredClone(items);
    movedItemIds(items, 7, -1);
    expect(items).toEqual(before);
  });
});

describe('who ticked an item', () => {
  it('names who and when, as far as known', () => {
    expect(tickedBy('bob', '14:05')).toBe('Ticked by bob, 14:05');
    expect(tickedBy('bob', null)).toBe('Ticked by bob');
    expect(tickedBy(null, '14:05')).toBe('Ticked 14:05');
  });

  it('a live toggle keeps the name the broadcast gives, and clears it when unticked', () => {
    const items = [{ id: 1, title: 'Scope', description: null, order_index: 0, checked: false, checked_by: null, checked_at: null }];
    const checklist = { items, progress: computeProgress(0, 1) };
    const ticked = reduceChecklist(checklist, {
      type: 'checklist:updated',
      payload: { item_id: 1, checked: true, updated_by: 'bob', timestamp: '2026-01-01T14:05:00.000Z' },
    });
    expect(ticked.items[0]).toMatchObject({ checked: true, checked_by_name: 'bob', checked_at: '2026-01-01T14:05:00.000Z' });
    const unticked = reduceChecklist(ticked, {
      type: 'checklist:updated',
      payload: { item_id: 1, checked: false, updated_by: 'alice', timestamp: '2026-01-01T14:06:00.000Z' },
    });
    expect(unticked.items[0]).toMatchObject({ checked: false, checked_by_name: null, checked_at: null });
  });
});

describe('progress bar', () => {
  it('clamps the value and says it with the counts', () => {
    expect(progressView({ progress: 67.5, completed_items: 27, total_items: 40 })).toEqual({
      percent: 67.5,
      valueText: '67.5%, 27 of 40 done',
    });
    expect(progressView({ progress: 120, completed_items: 1, total_items: 1 }).percent).toBe(100);
    expect(progressView({ progress: -1, completed_items: 0, total_items: 0 }).percent).toBe(0);
  });
});

describe('focus after an action on an item', () => {
  it('goes back to the same control, else to the other move button', () => {
    expect(focusCandidates('up')).toEqual(['up', 'down']);
    expect(focusCandidates('down')).toEqual(['down', 'up']);
    expect(focusCandidates('edit')).toEqual(['edit']);
  });

  it('a move is announced with the new position', () => {
    expect(moveStatusText('Scope', [7, 1, 3], 7)).toBe('Moved “Scope” to position 1 of 3.');
    expect(moveStatusText('Scope', [1, 3, 7], 7)).toBe('Moved “Scope” to position 3 of 3.');
  });
});

describe('renaming an item', () => {
  const items = [item(1, 0), item(2, 1)];
  it('refuses an empty or oversized title', () => {
    expect(renameOutcome(items, 1, '   ')).toEqual({ kind: 'invalid', problem: 'Give the item a title.' });
    expect(renameOutcome(items, 1, 'x'.repeat(CHECKLIST_TITLE_MAX + 1)).kind).toBe('invalid');
  });
  it('does nothing when the trimmed title is the same', () => {
    expect(renameOutcome(items, 1, ' Item 1 ')).toEqual({ kind: 'unchanged' });
  });
  it('saves the trimmed title', () => {
    expect(renameOutcome(items, 1, ' Scope ')).toEqual({ kind: 'save', title: 'Scope' });
  });
});

describe('pending sets and maps', () => {
  it('are copied, never changed in place', () => {
    const set: ReadonlySet<number> = new Set([1]);
    expect([...addTo(set, 2)]).toEqual([1, 2]);
    expect([...removeFrom(set, 1)]).toEqual([]);
    expect([...set]).toEqual([1]);
    const map: ReadonlyMap<number, boolean> = new Map([[1, true]]);
    expect([...withEntry(map, 2, false)]).toEqual([
      [1, true],
      [2, false],
    ]);
    expect([...withEntry(map, 1, undefined)]).toEqual([]);
    expect([...map]).toEqual([[1, true]]);
  });
});
