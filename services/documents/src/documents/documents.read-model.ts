import { prepared } from '@siteflow/eventstore';
import type { PoolClient, QueryConfig, QueryResult } from 'pg';
import type { DocumentMeta, DocumentType } from '@siteflow/contracts';
import type { DocumentCreated, DocumentSaved, DocumentState, Lock } from './document.js';

type Row = {
  id: string;
  project_id: string;
  document_type: DocumentType;
  title: string;
  content?: string;
  content_sha256?: string;
  version: number;
  created_by: string | null;
  last_edited_by: string | null;
  created_at: Date;
  updated_at: Date;
  stream_version: number;
  lock_user_id: string | null;
  lock_username: string | null;
  lock_connection_id: string | null;
  locked_at: Date | null;
  lock_expires_at: Date | null;
  lock_idle_since: Date | null;
};

const META_COLUMNS = `id, project_id, document_type, title, version, created_by, last_edited_by, created_at, updated_at, stream_version,
  lock_user_id, lock_username, lock_connection_id, locked_at, lock_expires_at, lock_idle_since`;

const num = (v: string | null) => (v === null ? null : Number(v));

function lockOf(r: Row): Lock | null {
  if (r.lock_user_id === null || !r.locked_at || !r.lock_expires_at || !r.lock_idle_since) return null;
  return {
    userId: Number(r.lock_user_id),
    username: r.lock_username ?? '',
    connectionId: r.lock_connection_id ?? '',
    lockedAt: r.locked_at.toISOString(),
    expiresAt: r.lock_expires_at.toISOString(),
    idleSince: r.lock_idle_since.toISOString(),
  };
}

function toMeta(r: Row): DocumentMeta {
  const lock = lockOf(r);
  return {
    id: Number(r.id),
    project_id: Number(r.project_id),
    document_type: r.document_type,
    title: r.title,
    version: r.version,
    created_by: num(r.created_by),
    last_edited_by: num(r.last_edited_by),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    lock: lock && {
      user_id: lock.userId,
      username: lock.username,
      connection_id: lock.connectionId,
      locked_at: lock.lockedAt,
      expires_at: lock.expiresAt,
    },
  };
}

/**
 * The document's decision state, read after its stream was locked (the command pipeline), so it is
 * the state at the locked stream version.
 */
export async function loadDocument(client: PoolClient, documentId: number): Promise<Extract<DocumentState, { status: 'exists' }> | null> {
  return documentOf(await client.query(documentQuery(documentId)));
}

/** The statement that reads a document's row (a document command's `first`): its content's hash, not the content. */
export function documentQuery(documentId: number): QueryConfig<unknown[]> {
  return prepared(`SELECT ${META_COLUMNS}, content_sha256 FROM documents.documents WHERE id = $1`, [documentId]);
}

/** The document `documentQuery` read, if it exists. */
export function documentOf(result: QueryResult): Extract<DocumentState, { status: 'exists' }> | null {
  const r = (result.rows as Row[])[0];
  if (!r) return null;
  return {
    status: 'exists',
    documentId: Number(r.id),
    projectId: Number(r.project_id),
    documentType: r.document_type,
    title: r.title,
    version: r.version,
    contentSha256: r.content_sha256 ?? '',
    createdBy: num(r.created_by),
    lastEditedBy: num(r.last_edited_by),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    lock: lockOf(r),
  };
}

/**
 * The statement that writes the document's state after its events were appended (same
 * transaction, with its COMMIT: `tx.atCommit`); none for an absent document. `content`: what the
 * events stored as the content (the last `DocumentCreated` or `DocumentSaved` among them), written
 * with its hash (the state's); null when they stored none (lock commands), and the row's content is left as it
 * is, neither sent nor written again.
 */
export function documentStateWrite(state: DocumentState, streamVersion: number, content: string | null): QueryConfig<unknown[]> | null {
  if (state.status === 'absent') return null;
  const l = state.lock;
  const lock = [
    l?.userId ?? null,
    l?.username ?? null,
    l?.connectionId ?? null,
    l?.lockedAt ?? null,
    l?.expiresAt ?? null,
    l?.idleSince ?? null,
  ];
  if (content === null) {
    // The row exists: the state was loaded from it.
    return prepared(
      `UPDATE documents.documents SET
         title = $2, version = $3, last_edited_by = $4, updated_at = $5, stream_version = $6, lock_user_id = $7, lock_username = $8,
         lock_connection_id = $9, locked_at = $10, lock_expires_at = $11, lock_idle_since = $12
       WHERE id = $1`,
      [state.documentId, state.title, state.version, state.lastEditedBy, state.updatedAt, streamVersion, ...lock],
    );
  }
  return prepared(
    // With its hash (a trigger hashes a content written without one: migration 5).
    `INSERT INTO documents.documents (id, project_id, document_type, title, content, content_sha256, version, created_by, last_edited_by,
         created_at, updated_at, stream_version, lock_user_id, lock_username, lock_connection_id, locked_at, lock_expires_at, lock_idle_since)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
       ON CONFLICT (id) DO UPDATE SET
         title = EXCLUDED.title, content = EXCLUDED.content, content_sha256 = EXCLUDED.content_sha256, version = EXCLUDED.version,
         last_edited_by = EXCLUDED.last_edited_by, updated_at = EXCLUDED.updated_at, stream_version = EXCLUDED.stream_version,
         lock_user_id = EXCLUDED.lock_user_id, lock_username = EXCLUDED.lock_username, lock_connection_id = EXCLUDED.lock_connection_id,
         locked_at = EXCLUDED.locked_at, lock_expires_at = EXCLUDED.lock_expires_at, lock_idle_since = EXCLUDED.lock_idle_since`,
    [
      state.documentId,
      state.projectId,
      state.documentType,
      state.title,
      content,
      state.contentSha256,
      state.version,
      state.createdBy,
      state.lastEditedBy,
      state.createdAt,
      state.updatedAt,
      streamVersion,
      ...lock,
    ],
  );
}

/** Every content version is kept: the first (created) and each save or restore. The statement that stores one. */
export function versionInsert(e: DocumentCreated | DocumentSaved): QueryConfig<unknown[]> {
  const d = e.data;
  const row =
    e.type === 'DocumentCreated'
      ? [
          e.data.document_id,
          1,
          e.data.content,
          Buffer.byteLength(e.data.content, 'utf8'),
          e.data.created_by,
          null,
          e.data.created_at,
          false,
          null,
        ]
      : [
          d.document_id,
          e.data.version,
          e.data.content,
          e.data.size,
          e.data.saved_by,
          e.data.saved_by_name,
          e.data.saved_at,
          e.data.auto,
          e.data.restored_from,
        ];
  return prepared(
    `INSERT INTO documents.document_versions (document_id, version, content, size, saved_by, saved_by_name, saved_at, auto, restored_from)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    row,
  );
}

export async function listDocuments(client: PoolClient, projectId: number): Promise<Array<DocumentMeta & { stream_version: number }>> {
  const { rows } = await client.query<Row>(
    prepared(`SELECT ${META_COLUMNS} FROM documents.documents WHERE project_id = $1 ORDER BY id`, [projectId]),
  );
  return rows.map((r) => ({ ...toMeta(r), stream_version: r.stream_version }));
}

export async function getDocument(client: PoolClient, documentId: number): Promise<(DocumentMeta & { content: string }) | null> {
  const { rows } = await client.query<Row>(
    prepared(`SELECT ${META_COLUMNS}, content FROM documents.documents WHERE id = $1`, [documentId]),
  );
  const r = rows[0];
  return r ? { ...toMeta(r), content: r.content ?? '' } : null;
}

/** Documents whose lock has lapsed (the sweep's candidates). */
export async function lapsedLocks(client: PoolClient, now: Date, limit: number): Promise<number[]> {
  const { rows } = await client.query<{ id: string }>(
    'SELECT id FROM documents.documents WHERE lock_expires_at <= $1 ORDER BY lock_expires_at LIMIT $2',
    [now, limit],
  );
  return rows.map((r) => Number(r.id));
}

export async function documentsLockedBy(client: PoolClient, connectionId: string): Promise<number[]> {
  const { rows } = await client.query<{ id: string }>('SELECT id FROM documents.documents WHERE lock_connection_id = $1 ORDER BY id', [
    connectionId,
  ]);
  return rows.map((r) => Number(r.id));
}

/**
 * A new document's id. Ids come from a sequence started above every id stored before (migration
 * 3), not from the project and the number of document types, so adding a type moves no document;
 * `DocumentCreated` records the id, so a replay gives every document the one it had.
 */
export async function allocateDocumentId(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ id: string }>(prepared(`SELECT nextval('documents.document_ids') AS id`, []));
  const row = rows[0];
  if (!row) throw new Error('nextval returned no row');
  return Number(row.id);
}

export async function documentTypesOf(client: PoolClient, projectId: number): Promise<DocumentType[]> {
  const { rows } = await client.query<{ document_type: DocumentType }>(
    prepared('SELECT document_type FROM documents.documents WHERE project_id = $1', [projectId]),
  );
  return rows.map((r) => r.document_type);
}

/** Projects lacking a document of one of `types` (stored before that type existed). */
export async function projectsMissingDocuments(client: PoolClient, types: readonly DocumentType[]): Promise<number[]> {
  const { rows } = await client.query<{ id: string }>(
    `SELECT p.id FROM documents.projects p
      WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS t(document_type)
                     WHERE NOT EXISTS (SELECT 1 FROM documents.documents d WHERE d.project_id = p.id AND d.document_type = t.document_type))
      ORDER BY p.id`,
    [types],
  );
  return rows.map((r) => Number(r.id));
}
