import type { PoolClient } from 'pg';
import { AppError, NOT_A_MEMBER, type ProjectInfo } from '@siteflow/contracts';
import { prepared } from '@siteflow/eventstore';
import type { ProjectEvent } from './project.js';

/** Projects one project event (same transaction as the append). */
export async function applyProjectEvent(client: PoolClient, e: ProjectEvent): Promise<void> {
  switch (e.type) {
    case 'ProjectCreated': {
      const d = e.data;
      await client.query(`INSERT INTO documents.projects (id, name, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`, [
        d.project_id,
        d.name,
        d.status,
        d.created_at,
      ]);
      for (const m of d.members) {
        await client.query(
          `INSERT INTO documents.project_members (project_id, user_id, username, role, avatar_url) VALUES ($1, $2, $3, $4, $5)`,
          [d.project_id, m.user_id, m.username, m.role, m.avatar_url],
        );
      }
      return;
    }
    case 'ProjectStatusChanged':
      await client.query('UPDATE documents.projects SET status = $2, updated_at = $3 WHERE id = $1', [
        e.data.project_id,
        e.data.status,
        e.data.changed_at,
      ]);
      return;
    case 'ProjectRenamed':
      await client.query('UPDATE documents.projects SET name = $2, updated_at = $3 WHERE id = $1', [
        e.data.project_id,
        e.data.name,
        e.data.renamed_at,
      ]);
      return;
    case 'ProjectMembershipChanged': {
      const d = e.data;
      if (d.role === null) {
        await client.query('DELETE FROM documents.project_members WHERE project_id = $1 AND user_id = $2', [d.project_id, d.user_id]);
      } else {
        await client.query(
          `INSERT INTO documents.project_members (project_id, user_id, username, role, avatar_url) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (project_id, user_id) DO UPDATE SET username = EXCLUDED.username, role = EXCLUDED.role, avatar_url = EXCLUDED.avatar_url`,
          [d.project_id, d.user_id, d.username, d.role, d.avatar_url],
        );
      }
      await client.query('UPDATE documents.projects SET updated_at = $2 WHERE id = $1', [d.project_id, d.changed_at]);
      return;
    }
  }
}

export async function loadProject(client: PoolClient, projectId: number): Promise<ProjectInfo | null> {
  const { rows } = await client.query<{ id: string; name: string; status: ProjectInfo['status']; created_at: Date; updated_at: Date }>(
    'SELECT id, name, status, created_at, updated_at FROM documents.projects WHERE id = $1',
    [projectId],
  );
  const p = rows[0];
  if (!p) return null;
  const members = await client.query<{ user_id: string; username: string; role: 'admin' | 'customer'; avatar_url: string }>(
    'SELECT user_id, username, role, avatar_url FROM documents.project_members WHERE project_id = $1 ORDER BY user_id',
    [projectId],
  );
  return {
    id: Number(p.id),
    name: p.name,
    status: p.status,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
    members: members.rows.map((m) => ({ user_id: Number(m.user_id), username: m.username, role: m.role, avatar_url: m.avatar_url })),
  };
}

/**
 * Checks, inside a command's transaction, that the user is still a member, and keeps their member
 * row (FOR KEY SHARE) until the transaction ends; `unauthorized` otherwise. A removal deletes that
 * row: it waits for this transaction to commit and then sees what it wrote (a lock, which it
 * releases), or this waits for the removal and finds no row. Either way nothing this transaction
 * takes outlives the membership (a role change does not conflict with the key share).
 */
export async function holdMembership(client: PoolClient, projectId: number, userId: number): Promise<void> {
  const { rowCount } = await client.query(
    prepared('SELECT 1 FROM documents.project_members WHERE project_id = $1 AND user_id = $2 FOR KEY SHARE', [projectId, userId]),
  );
  if (!rowCount) throw new AppError(NOT_A_MEMBER.code, NOT_A_MEMBER.message);
}

/** Row-locks the project until the transaction ends: creators of its documents queue here. */
export async function lockProject(client: PoolClient, projectId: number): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM documents.projects WHERE id = $1 FOR UPDATE', [projectId]);
  return (rowCount ?? 0) > 0;
}

/** The projects a user belongs to, with their role in each (`GET /api/projects`). */
export async function projectsOfUser(
  client: PoolClient,
  userId: number,
): Promise<Array<{ id: number; name: string; status: ProjectInfo['status']; role: 'admin' | 'customer'; updated_at: string }>> {
  const { rows } = await client.query<{
    id: string;
    name: string;
    status: ProjectInfo['status'];
    role: 'admin' | 'customer';
    updated_at: Date;
  }>(
    `SELECT p.id, p.name, p.status, m.role, p.updated_at FROM documents.project_members m JOIN documents.projects p ON p.id = m.project_id
     WHERE m.user_id = $1 ORDER BY p.updated_at DESC, p.id`,
    [userId],
  );
  return rows.map((r) => ({ id: Number(r.id), name: r.name, status: r.status, role: r.role, updated_at: r.updated_at.toISOString() }));
}

/** Every project, newest first, with its number of members (the operators' list). */
export async function listProjects(
  client: PoolClient,
  limit: number,
): Promise<Array<{ id: number; name: string; status: ProjectInfo['status']; members: number; updated_at: string }>> {
  const { rows } = await client.query<{ id: string; name: string; status: ProjectInfo['status']; members: string; updated_at: Date }>(
    `SELECT p.id, p.name, p.status, p.updated_at, (SELECT count(*) FROM documents.project_members m WHERE m.project_id = p.id) AS members
     FROM documents.projects p ORDER BY p.id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    name: r.name,
    status: r.status,
    members: Number(r.members),
    updated_at: r.updated_at.toISOString(),
  }));
}

/** A fresh project id for a project created without one. */
export async function nextProjectId(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ id: string }>('SELECT COALESCE(MAX(id), 0) + 1 AS id FROM documents.projects');
  return Number(rows[0]?.id ?? 1);
}
