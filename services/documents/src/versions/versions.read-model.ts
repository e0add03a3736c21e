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

export async function getVersion(client: PoolClient, documentId: number, version: number) {
  const { rows } = await client.query<VersionRow>(
    `SELECT document_id, version, content, size, saved_by, saved_by_name, saved_at, restored_from
       FROM documents.document_versions WHERE document_id = $1 AND version = $2`,
    [documentId, version],
  );
  const r = rows[0];
  if (!r) return null;
  return { ...summary(r), document_id: Number(r.document_id), content: r.content ?? '', restored_from: r.restored_from };
}
