import { AppError, CHECKLIST_MAX_ITEMS, computeProgress, type ChecklistItem, type Role } from '@siteflow/contracts';
import { evolve, type ChecklistEvent, type ChecklistState } from './checklist.js';

type Actor = { user_id: number; username: string; role: Role };

export type CreateChecklist = {
  type: 'CreateChecklist';
  data: { projectId: number; template: ReadonlyArray<{ title: string; description: string | null }>; now: Date };
};
export type ToggleItem = { type: 'ToggleItem'; data: { projectId: number; itemId: number; checked: boolean; actor: Actor; now: Date } };
export type AddItem = {
  type: 'AddItem';
  data: { projectId: number; title: string; description: string | null; orderIndex: number | undefined; actor: Actor };
};
export type EditItem = {
  type: 'EditItem';
  data: { projectId: number; itemId: number; title: string | undefined; description: string | null | undefined; actor: Actor };
};
export type ReorderItems = { type: 'ReorderItems'; data: { projectId: number; itemIds: number[]; actor: Actor } };
export type RemoveItem = { type: 'RemoveItem'; data: { projectId: number; itemId: number; actor: Actor } };
export type ChecklistCommand = CreateChecklist | ToggleItem | AddItem | EditItem | ReorderItems | RemoveItem;

/**
 * Pure: what a command does to a project's checklist. A change that moves the count of items or of
 * checked ones ends with `ProgressChanged`, computed from the state these events lead to: as the
 * state is the stream at the version the append expects, progress is exact under any interleaving.
 */
export function decide(command: ChecklistCommand, state: ChecklistState): ChecklistEvent[] {
  if (command.type === 'CreateChecklist') {
    // Idempotent: the consumer of ProjectCreated and the lazy path may both get here.
    if (state.status === 'created') return [];
    const { projectId, template, now } = command.data;
    return [
      {
        type: 'ChecklistCreated',
        data: {
          project_id: projectId,
          items: template.map((t, i) => ({ item_id: i + 1, title: t.title, description: t.description })),
          created_at: now.toISOString(),
        },
      },
    ];
  }
  if (state.status !== 'created') throw new AppError('not_found', 'this project has no checklist');
  const items = state.items;

  switch (command.type) {
    case 'ToggleItem': {
      const { projectId, itemId, checked, actor, now } = command.data;
      const item = findItem(items, itemId);
      // Setting what is already set is acknowledged without an event (nothing happened).
      if (item.checked === checked) return [];
      return withProgress(state, projectId, [
        {
          type: 'ItemToggled',
          data: {
            project_id: projectId,
            item_id: itemId,
            checked,
            user_id: actor.user_id,
            username: actor.username,
            toggled_at: now.toISOString(),
          },
        },
      ]);
    }
    case 'AddItem': {
      const { projectId, title, description, orderIndex, actor } = command.data;
      requireAdmin(actor);
      if (items.length >= CHECKLIST_MAX_ITEMS)
        throw new AppError('invalid_payload', `a checklist holds at most ${CHECKLIST_MAX_ITEMS} items`);
      const itemId = items.reduce((max, i) => Math.max(max, i.id), 0) + 1;
      const order = Math.min(orderIndex ?? items.length, items.length);
      return withProgress(state, projectId, [
        {
          type: 'ItemAdded',
          data: { project_id: projectId, item_id: itemId, title, description, order_index: order, added_by: actor.user_id },
        },
      ]);
    }
    case 'EditItem': {
      const { projectId, itemId, title, description, actor } = command.data;
      requireAdmin(actor);
      const item = findItem(items, itemId);
      const next = { title: title ?? item.title, description: description === undefined ? item.description : description };
      if (next.title === item.title && next.description === item.description) return [];
      return [{ type: 'ItemEdited', data: { project_id: projectId, item_id: itemId, ...next, edited_by: actor.user_id } }];
    }
    case 'ReorderItems': {
      const { projectId, itemIds, actor } = command.data;
      requireAdmin(actor);
      const current = new Set(items.map((i) => i.id));
      if (itemIds.length !== items.length || new Set(itemIds).size !== itemIds.length || !itemIds.every((id) => current.has(id))) {
        throw new AppError('invalid_payload', 'item_ids must list every item of the checklist exactly once');
      }
      if (itemIds.every((id, i) => items[i]?.id === id)) return [];
      return [{ type: 'ItemsReordered', data: { project_id: projectId, item_ids: itemIds, reordered_by: actor.user_id } }];
    }
    case 'RemoveItem': {
      const { projectId, itemId, actor } = command.data;
      requireAdmin(actor);
      findItem(items, itemId);
      return withProgress(state, projectId, [
        { type: 'ItemRemoved', data: { project_id: projectId, item_id: itemId, removed_by: actor.user_id } },
      ]);
    }
    default: {
      const unknown: never = command;
      throw new AppError('invalid_payload', `unknown command ${String((unknown as { type: unknown }).type)}`);
    }
  }
}

function withProgress(state: ChecklistState, projectId: number, events: ChecklistEvent[]): ChecklistEvent[] {
  const after = events.reduce(evolve, state);
  const items = after.status === 'created' ? after.items : [];
  const progress = computeProgress(items.filter((i) => i.checked).length, items.length);
  return [...events, { type: 'ProgressChanged', data: { project_id: projectId, ...progress } }];
}

function findItem(items: ChecklistItem[], itemId: number): ChecklistItem {
  const item = items.find((i) => i.id === itemId);
  if (!item) throw new AppError('not_found', `no checklist item ${itemId} in this project`);
  return item;
}

function requireAdmin(actor: Actor): void {
  if (actor.role !== 'admin') throw new AppError('forbidden', 'only an admin may change the checklist template');
}
