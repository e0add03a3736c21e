import type { ClientBase, QueryConfig } from 'pg';
import type { Broadcast } from '@siteflow/contracts';
import { prepared } from './prepared.js';
import type { StoreSchema } from './schema.js';
import type { GlobalCheckpoint, RecordedEvent } from './types.js';

/** A pool or a client. */
export type Queryable = Pick<ClientBase, 'query'>;

export const EVENT_COLUMNS =
  'global_position, event_id, stream_id, version, transaction_id::text AS transaction_id, type, data, metadata, project_id, user_id, broadcast, occurred_at';

/**
 * What an append returns of the events it inserted: all but their data, which the appender sent
 * and has (a document's save would otherwise come back whole, for Postgres to write out as text
 * and node-postgres to parse again).
 */
export const APPENDED_COLUMNS =
  'global_position, event_id, stream_id, version, transaction_id::text AS transaction_id, type, metadata, project_id, user_id, broadcast, occurred_at';
export type AppendedRow = Omit<EventRow, 'data'>;

export interface EventRow {
  global_position: string;
  event_id: string;
  stream_id: string;
  version: number;
  transaction_id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  project_id: string | null;
  user_id: string | null;
  broadcast: Broadcast | null;
  occurred_at: Date;
}

/** pg returns bigint as string; our ids and positions stay far below 2^53. */
const toNumber = (v: string | null): number | null => (v === null ? null : Number(v));

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    streamId: row.stream_id,
    version: row.version,
    globalPosition: Number(row.global_position),
    transactionId: row.transaction_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    projectId: toNumber(row.project_id),
    userId: toNumber(row.user_id),
    broadcast: row.broadcast,
    occurredAt: row.occurred_at,
  };
}

export async function readStreamEvents(db: Queryable, s: StoreSchema, streamId: string, fromVersion = 1): Promise<RecordedEvent[]> {
  const { rows } = await db.query<EventRow>(readStreamQuery(s, streamId, fromVersion));
  return rows.map(toRecordedEvent);
}

/** The statement of `readStreamEvents` (its rows are EventRows). */
export function readStreamQuery(s: StoreSchema, streamId: string, fromVersion: number): QueryConfig<unknown[]> {
  return prepared(`SELECT ${EVENT_COLUMNS} FROM ${s.events} WHERE stream_id = $1 AND version >= $2 ORDER BY version`, [
    streamId,
    fromVersion,
  ]);
}

/** The events of several streams, each stream's in version order (one statement). */
export async function readManyStreamEvents(db: Queryable, s: StoreSchema, streamIds: readonly string[]): Promise<RecordedEvent[]> {
  const { rows } = await db.query<EventRow>(
    prepared(`SELECT ${EVENT_COLUMNS} FROM ${s.events} WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version`, [streamIds]),
  );
  return rows.map(toRecordedEvent);
}

export async function readStreamVersion(db: Queryable, s: StoreSchema, streamId: string, forUpdate = false): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    prepared(`SELECT version FROM ${s.streams} WHERE stream_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [streamId]),
  );
  return rows[0]?.version ?? 0;
}

export const START: GlobalCheckpoint = { transactionId: '0', globalPosition: 0 };

/**
 * The global log in commit-safe order (emmett's technique): a transaction's xid is taken before
 * it inserts, so every transaction that may still commit has an xid >= the oldest running one
 * (pg_snapshot_xmin). Reading only below that bound, ordered by (transaction_id, global_position),
 * means nothing can later appear behind a checkpoint.
 */
export async function readAllEvents(
  db: Queryable,
  s: StoreSchema,
  opts: { after?: GlobalCheckpoint; limit: number },
): Promise<RecordedEvent[]> {
  const after = opts.after ?? START;
  const { rows } = await db.query<EventRow>(
    prepared(
      `SELECT ${EVENT_COLUMNS} FROM ${s.events}
      WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
        AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY transaction_id, global_position
      LIMIT $3`,
      [after.transactionId, after.globalPosition, opts.limit],
    ),
  );
  return rows.map(toRecordedEvent);
}

/** The last committed event in global order, or null for an empty store. */
export async function readLastPosition(db: Queryable, s: StoreSchema): Promise<GlobalCheckpoint | null> {
  const { rows } = await db.query<{ transaction_id: string; global_position: string }>(
    `SELECT transaction_id::text AS transaction_id, global_position FROM ${s.events}
      ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
  );
  const row = rows[0];
  return row ? { transactionId: row.transaction_id, globalPosition: Number(row.global_position) } : null;
}

/** Orders checkpoints like the global log: by transaction id, then position. */
export function compareCheckpoints(a: GlobalCheckpoint, b: GlobalCheckpoint): number {
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.globalPosition - b.globalPosition;
}
