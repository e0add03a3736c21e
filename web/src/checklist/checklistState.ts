import type { ChecklistItem, ChecklistSnapshot, ServerPayload } from '@siteflow/contracts';
import { CHECKLIST_TITLE_MAX } from '@siteflow/contracts/constants';

/** An item as the room shows it: a live toggle names who ticked it before the next snapshot gives their id. */
export type RoomChecklistItem = ChecklistItem & { checked_by_name?: string | null };
export type RoomChecklist = { items: readonly RoomChecklistItem[]; progress: ChecklistSnapshot['progress'] };

export type ChecklistAction =
  | { type: 'checklist:updated'; payload: ServerPayload<'checklist:updated'> }
  | { type: 'checklist:changed'; payload: ServerPayload<'checklist:changed'> }
  | { type: 'progress:updated'; payload: ServerPayload<'progress:updated'> };

export const sortItems = (items: readonly ChecklistItem[]): ChecklistItem[] =>
  [...items].sort((a, b) => a.order_index - b.order_index || a.id - b.id);

export function reduceChecklist(checklist: RoomChecklist, action: ChecklistAction): RoomChecklist {
  switch (action.type) {
    case 'checklist:updated': {
      const { item_id, checked, timestamp, updated_by } = action.payload;
      const index = checklist.items.findIndex((i) => i.id === item_id);
      const item = checklist.items[index];
      if (!item || item.checked === checked) return checklist;
      // The broadcast names who toggled, not their id: the name is kept beside the (stale) id.
      const next: RoomChecklistItem = {
        ...item,
        checked,
        checked_at: checked ? timestamp : null,
        checked_by: checked ? item.checked_by : null,
        checked_by_name: checked ? updated_by : null,
      };
      return { ...checklist, items: checklist.items.map((i, n) => (n === index ? next : i)) };
    }
    case 'checklist:changed':
      return { ...checklist, items: sortItems(action.payload.items) };
    case 'progress:updated':
      return { ...checklist, progress: action.payload };
    default: {
      const unhandled: never = action;
      return unhandled;
    }
  }
}

/** Why a title would be refused (the server trims, then bounds), or null when it is fine. */
export function checklistTitleProblem(title: string): string | null {
  const length = title.trim().length;
  if (length === 0) return 'Give the item a title.';
  if (length > CHECKLIST_TITLE_MAX) return `Keep the title to ${CHECKLIST_TITLE_MAX} characters (this one has ${length}).`;
  return null;
}

/**
 * The `item_ids` of a `checklist:reorder` that moves one item a place up (-1) or down (+1):
 * every item, once, in display order. Null when the item is not there or is already at that end.
 */
export function movedItemIds(items: readonly ChecklistItem[], itemId: number, offset: -1 | 1): number[] | null {
  const ids = sortItems(items).map((i) => i.id);
  const from = ids.indexOf(itemId);
  const to = from + offset;
  if (from === -1 || to < 0 || to >= ids.length) return null;
  ids.splice(from, 1);
  ids.splice(to, 0, itemId);
  return ids;
}

/** Who ticked an item and when, as far as known. */
export function tickedBy(name: string | null, when: string | null): string {
  if (name) return when ? `Ticked by ${name}, ${when}` : `Ticked by ${name}`;
  return when ? `Ticked ${when}` : 'Ticked';
}

/** The progress bar's value (clamped to 0–100) and what it says to a screen reader. */
export function progressView(p: ChecklistSnapshot['progress']): { percent: number; valueText: string } {
  const percent = Math.min(100, Math.max(0, p.progress));
  return { percent, valueText: `${percent}%, ${p.completed_items} of ${p.total_items} done` };
}

/** An admin control of one item's row, to put the focus back on once the list has re-rendered. */
export type ItemControl = { itemId: number; control: 'edit' | 'up' | 'down' };

/**
 * The controls to focus, in order, after an action on one: the same one, else (a move button
 * disabled at an end of the list) the other move button.
 */
export function focusCandidates(control: ItemControl['control']): ItemControl['control'][] {
  if (control === 'up') return ['up', 'down'];
  if (control === 'down') return ['down', 'up'];
  return ['edit'];
}

/** What a screen reader hears after a move. */
export const moveStatusText = (title: string, itemIds: readonly number[], itemId: number): string =>
  `Moved “${title}” to position ${itemIds.indexOf(itemId) + 1} of ${itemIds.length}.`;

/** What saving a renamed title does: refuse it (why), nothing (unchanged), or save the trimmed title. */
export function renameOutcome(
  items: readonly ChecklistItem[],
  itemId: number,
  draft: string,
): { kind: 'invalid'; problem: string } | { kind: 'unchanged' } | { kind: 'save'; title: string } {
  const title = draft.trim();
  const problem = checklistTitleProblem(title);
  if (problem) return { kind: 'invalid', problem };
  if (title === items.find((i) => i.id === itemId)?.title) return { kind: 'unchanged' };
  return { kind: 'save', title };
}

/** A set with one more member, as a new set (state is never changed in place). */
export const addTo = <T>(set: ReadonlySet<T>, value: T): ReadonlySet<T> => new Set(set).add(value);
/** A set without a member, as a new set. */
export function removeFrom<T>(set: ReadonlySet<T>, value: T): ReadonlySet<T> {
  const next = new Set(set);
  next.delete(value);
  return next;
}
/** A map with one entry set or removed (undefined), as a new map. */
export function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V | undefined): ReadonlyMap<K, V> {
  const next = new Map(map);
  if (value === undefined) next.delete(key);
  else next.set(key, value);
  return next;
}
