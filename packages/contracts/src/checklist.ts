import { z } from 'zod';
import { ChecklistItemId, IsoTime, UserId } from './ids.js';

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
  title: z.string().trim().min(1).max(255),
  description: z.string().max(2000).optional(),
  order_index: z.number().int().min(0).optional(),
});
export const EditItemPayload = z.strictObject({
  item_id: ChecklistItemId,
  title: z.string().trim().min(1).max(255).optional(),
  description: z.string().max(2000).nullable().optional(),
});
export const ReorderPayload = z.strictObject({ item_ids: z.array(ChecklistItemId).min(1).max(500) });
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

/** Progress as the seed shows it: a percentage with one decimal (27 of 40 → 67.5). */
export function computeProgress(completed: number, total: number): Progress {
  const progress = total === 0 ? 0 : Math.round((completed / total) * 1000) / 10;
  return { progress, completed_items: completed, total_items: total };
}
