import { z } from 'zod';
import { CHECKLIST_DESCRIPTION_MAX, CHECKLIST_MAX_ITEMS, CHECKLIST_TITLE_MAX, INT32_MAX } from './constants.js';
import { ChecklistItemId, IsoTime, ProjectId, UserId } from './ids.js';

export const ChecklistItem = z.object({
  id: ChecklistItemId,
  title: z.string(),
  description: z.string().nullable(),
  order_index: z.number().int(),
  checked: z.boolean(),
  checked_by: UserId.nullable(),
  checked_at: IsoTime.nullable(),
});
export type ChecklistItem = z.infer<typeof ChecklistItem>;

export const Progress = z.object({
  /** Percentage with one decimal, e.g. 67.5. */
  progress: z.number().min(0).max(100),
  completed_items: z.number().int().min(0),
  total_items: z.number().int().min(0),
});
export type Progress = z.infer<typeof Progress>;

// Client → server
export const TogglePayload = z.strictObject({ item_id: ChecklistItemId, checked: z.boolean() });
export const AddItemPayload = z.strictObject({
  title: z.string().trim().min(1).max(CHECKLIST_TITLE_MAX),
  description: z.string().max(CHECKLIST_DESCRIPTION_MAX).optional(),
  order_index: z.number().int().min(0).max(INT32_MAX).optional(),
});
export const EditItemPayload = z.strictObject({
  item_id: ChecklistItemId,
  title: z.string().trim().min(1).max(CHECKLIST_TITLE_MAX).optional(),
  description: z.string().max(CHECKLIST_DESCRIPTION_MAX).nullable().optional(),
});
export const ReorderPayload = z.strictObject({ item_ids: z.array(ChecklistItemId).min(1).max(CHECKLIST_MAX_ITEMS) });
export const RemoveItemPayload = z.strictObject({ item_id: ChecklistItemId });

// Server → client
export const ChecklistUpdatedBroadcast = z.object({
  item_id: ChecklistItemId,
  checked: z.boolean(),
  updated_by: z.string(),
  timestamp: IsoTime,
});
export const ProgressUpdatedBroadcast = Progress;
export const ChecklistChangedBroadcast = z.object({ items: z.array(ChecklistItem) });

export const ChecklistSnapshot = z.object({ items: z.array(ChecklistItem), progress: Progress });
export type ChecklistSnapshot = z.infer<typeof ChecklistSnapshot>;

// Replies
/** `checklist:toggle`: the item as it is now and the progress after it. */
export const ToggleReply = z.object({ item: ChecklistItem, progress: Progress });
export type ToggleReply = z.infer<typeof ToggleReply>;
/** Template edits (`add_item`, `edit_item`, `reorder`, `remove_item`) answer with the whole list. */
export const ChecklistReply = ChecklistSnapshot;
export type ChecklistReply = z.infer<typeof ChecklistReply>;

// Domain events (stored in the `checklist` schema, one stream per project's checklist)
const TemplateItem = z.object({ item_id: ChecklistItemId, title: z.string(), description: z.string().nullable() });
export const ChecklistCreated = z.object({
  type: z.literal('ChecklistCreated'),
  data: z.object({ project_id: ProjectId, items: z.array(TemplateItem), created_at: IsoTime }),
});
export const ItemToggled = z.object({
  type: z.literal('ItemToggled'),
  data: z.object({
    project_id: ProjectId,
    item_id: ChecklistItemId,
    checked: z.boolean(),
    user_id: UserId,
    username: z.string(),
    toggled_at: IsoTime,
  }),
});
/** Progress after the events before it in the same append; carries the `progress:updated` broadcast. */
export const ProgressChanged = z.object({ type: z.literal('ProgressChanged'), data: Progress.extend({ project_id: ProjectId }) });
export const ItemAdded = z.object({
  type: z.literal('ItemAdded'),
  data: TemplateItem.extend({ project_id: ProjectId, order_index: z.number().int().min(0), added_by: UserId }),
});
export const ItemEdited = z.object({
  type: z.literal('ItemEdited'),
  data: TemplateItem.extend({ project_id: ProjectId, edited_by: UserId }),
});
export const ItemsReordered = z.object({
  type: z.literal('ItemsReordered'),
  data: z.object({ project_id: ProjectId, item_ids: z.array(ChecklistItemId), reordered_by: UserId }),
});
export const ItemRemoved = z.object({
  type: z.literal('ItemRemoved'),
  data: z.object({ project_id: ProjectId, item_id: ChecklistItemId, removed_by: UserId }),
});
export const ChecklistEvent = z.discriminatedUnion('type', [
  ChecklistCreated,
  ItemToggled,
  ProgressChanged,
  ItemAdded,
  ItemEdited,
  ItemsReordered,
  ItemRemoved,
]);
export type ChecklistEvent = z.infer<typeof ChecklistEvent>;
