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
