import type { ChecklistItem, ChecklistSnapshot, ServerPayload } from '@siteflow/contracts';

export type RoomChecklist = { items: readonly ChecklistItem[]; progress: ChecklistSnapshot['progress'] };

export type ChecklistAction =
  | { type: 'checklist:updated'; payload: ServerPayload<'checklist:updated'> }
  | { type: 'checklist:changed'; payload: ServerPayload<'checklist:changed'> }
  | { type: 'progress:updated'; payload: ServerPayload<'progress:updated'> };

/** Mirrors `computeProgress` of the contracts (a value import would bundle zod; a unit test keeps them equal). */
export function computeProgress(completed: number, total: number): ChecklistSnapshot['progress'] {
  const progress = total === 0 ? 0 : Math.round((completed / total) * 1000) / 10;
  return { progress, completed_items: completed, total_items: total };
}

export const sortItems = (items: readonly ChecklistItem[]): ChecklistItem[] => [...items].sort((a, b) => a.order_index - b.order_index || a.id - b.id);

export function reduceChecklist(checklist: RoomChecklist, action: ChecklistAction): RoomChecklist {
  switch (action.type) {
    case 'checklist:updated': {
      const { item_id, checked, timestamp } = action.payload;
      const index = checklist.items.findIndex((i) => i.id === item_id);
      const item = checklist.items[index];
      if (!item || item.checked === checked) return checklist;
      // The broadcast names who toggled (not their id): checked_by stays as known until the next snapshot.
      const next: ChecklistItem = { ...item, checked, checked_at: checked ? timestamp : null, checked_by: checked ? item.checked_by : null };
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
