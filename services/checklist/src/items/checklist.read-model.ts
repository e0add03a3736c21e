import { prepared } from '@siteflow/eventstore';
import type { PoolClient, QueryConfig, QueryResult } from 'pg';
import type { ChecklistItem, Progress } from '@siteflow/contracts';

type ItemRow = {
  item_id: number;
  title: string;
  description: string | null;
  order_index: number;
  checked: boolean;
  checked_by: string | null;
  checked_at: Date | null;
};

const toItem = (r: ItemRow): ChecklistItem => ({
  id: r.item_id,
  title: r.title,
  description: r.description,
  order_index: r.order_index,
  checked: r.checked,
  checked_by: r.checked_by === null ? null : Number(r.checked_by),
  checked_at: r.checked_at?.toISOString() ?? null,
});

/** The statement that reads the project's items in display order (a checklist command's `first`). */
export function itemsQuery(projectId: number): QueryConfig<unknown[]> {
  return prepared(
    `SELECT item_id, title, description, order_index, checked, checked_by, checked_at
       FROM checklist.items WHERE project_id = $1 ORDER BY order_index, item_id`,
    [projectId],
  );
}

/** The items `itemsQuery` read. */
export function itemsFrom(result: QueryResult): ChecklistItem[] {
  return (result.rows as ItemRow[]).map(toItem);
}

/** The project's items in display order. */
export async function loadItems(client: PoolClient, projectId: number): Promise<ChecklistItem[]> {
  return itemsFrom(await client.query(itemsQuery(projectId)));
}

export async function loadProgress(client: PoolClient, projectId: number): Promise<Progress | null> {
  const { rows } = await client.query<{ total_items: number; completed_items: number; percentage: string }>(
    'SELECT total_items, completed_items, percentage FROM checklist.progress WHERE project_id = $1',
    [projectId],
  );
  const r = rows[0];
  return r ? { progress: Number(r.percentage), completed_items: r.completed_items, total_items: r.total_items } : null;
}

/**
 * The statements that bring the read model from `before` to `after` (in the transaction of the
 * append, with its COMMIT: `tx.atCommit`): delete the removed items, write the ones that changed,
 * and the progress with the stream version it reflects.
 */
export function checklistWrites(
  projectId: number,
  before: ChecklistItem[],
  after: ChecklistItem[],
  progress: Progress,
  streamVersion: number,
  now: Date,
): QueryConfig<unknown[]>[] {
  const writes: QueryConfig<unknown[]>[] = [];
  const old = new Map(before.map((i) => [i.id, i]));
  const changed = after.filter((i) => {
    const o = old.get(i.id);
    return (
      !o ||
      o.title !== i.title ||
      o.description !== i.description ||
      o.order_index !== i.order_index ||
      o.checked !== i.checked ||
      o.checked_by !== i.checked_by ||
      o.checked_at !== i.checked_at
    );
  });
  const kept = new Set(after.map((i) => i.id));
  const removed = before.filter((i) => !kept.has(i.id)).map((i) => i.id);
  if (removed.length > 0) {
    writes.push(prepared('DELETE FROM checklist.items WHERE project_id = $1 AND item_id = ANY($2::int[])', [projectId, removed]));
  }
  if (changed.length > 0) {
    writes.push(
      prepared(
        `INSERT INTO checklist.items (project_id, item_id, title, description, order_index, checked, checked_by, checked_at)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::boolean[], $7::bigint[], $8::timestamptz[])
         ON CONFLICT (project_id, item_id) DO UPDATE SET
           title = EXCLUDED.title, description = EXCLUDED.description, order_index = EXCLUDED.order_index,
           checked = EXCLUDED.checked, checked_by = EXCLUDED.checked_by, checked_at = EXCLUDED.checked_at`,
        [
          projectId,
          changed.map((i) => i.id),
          changed.map((i) => i.title),
          changed.map((i) => i.description),
          changed.map((i) => i.order_index),
          changed.map((i) => i.checked),
          changed.map((i) => i.checked_by),
          changed.map((i) => i.checked_at),
        ],
      ),
    );
  }
  writes.push(
    prepared(
      `INSERT INTO checklist.progress (project_id, total_items, completed_items, percentage, stream_version, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (project_id) DO UPDATE SET total_items = EXCLUDED.total_items, completed_items = EXCLUDED.completed_items,
         percentage = EXCLUDED.percentage, stream_version = EXCLUDED.stream_version, updated_at = EXCLUDED.updated_at`,
      [projectId, progress.total_items, progress.completed_items, progress.progress, streamVersion, now],
    ),
  );
  return writes;
}
