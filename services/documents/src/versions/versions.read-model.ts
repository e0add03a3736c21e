import type { PoolClient } from 'pg';

type VersionRow = {
  document_id: string;
  version: number;
  content?: string;
  size: number;
  saved_by: string | null;
  saved_by_name: string | null;
  saved_at: Date;
  restored_from: number | null;
};

const summary = (r: VersionRow) => ({
  version: r.version,
  saved_by: r.saved_by === null ? null : Number(r.saved_by),
  saved_by_name: r.saved_by_name,
  saved_at: r.saved_at.toISOString(),
  size: r.size,
});

/** Newest first, before `before` (exclusive), plus whether older ones exist. */
export async function listVersions(client: PoolClient, documentId: number, before: number | null, limit: number) {
  const { rows } = await client.query<VersionRow>(
    `SELECT document_id, version, size, saved_by, saved_by_name, saved_at, restored_from
       FROM documents.document_versions
      WHERE document_id = $1 AND ($2::int IS NULL OR version < $2)
      ORDER BY version DESC
      LIMIT $3`,
    [documentId, before, limit + 1],
  );
  return { versions: rows.slice(0, limit).map(summary), has_more: rows.length > limit };
}

/**
 * One version with its content. A version stored since migration 5 keeps no copy of its content:
 * it is read from the event that saved it (`DocumentCreated` or `DocumentSaved` at the document
 * stream's `event_version`), the one read model that reads the events table (docs/event-store.md).
 */
export async function getVersion(client: PoolClient, documentId: number, version: number) {
  const { rows } = await client.query<VersionRow>(
    `SELECT v.document_id, v.version, COALESCE(v.content, e.data->>'content') AS content, v.size, v.saved_by, v.saved_by_name,
            v.saved_at, v.restored_from
       FROM documents.document_versions v
       LEFT JOIN documents.events e ON e.stream_id = 'document-' || v.document_id AND e.version = v.event_version
      WHERE v.document_id = $1 AND v.version = $2`,
    [documentId, version],
  );
  const r = rows[0];
  if (!r) return null;
  // Its event is committed with it: never missing, but were it, no restore may take it for empty.
  if (typeof r.content !== 'string') throw new Error(`version ${version} of document ${documentId} has no content in its row or its event`);
  return { ...summary(r), document_id: Number(r.document_id), content: r.content, restored_from: r.restored_from };
}
