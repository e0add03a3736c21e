import type { Role, UserProject } from '@siteflow/contracts';

/** A project list that could not be had, with a message meant for the person looking at it. */
export class ProjectListError extends Error {
  constructor(
    message: string,
    /** The token was refused: signing in again is the cure. */
    readonly signedOut = false,
  ) {
    super(message);
    this.name = 'ProjectListError';
  }
}

const STATUSES = new Set(['draft', 'planning', 'in_progress', 'review', 'completed', 'on_hold']);
const ROLES = new Set<Role>(['admin', 'customer']);

/** The projects of a `GET /api/projects` body that are well formed (anything else is left out). */
export function parseProjectList(body: unknown): UserProject[] | null {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { projects?: unknown }).projects)) return null;
  const projects: UserProject[] = [];
  for (const p of (body as { projects: unknown[] }).projects) {
    if (typeof p !== 'object' || p === null) continue;
    const e = p as Record<string, unknown>;
    if (typeof e.id !== 'number' || typeof e.name !== 'string' || !STATUSES.has(e.status as string) || !ROLES.has(e.role as Role)) continue;
    projects.push({
      id: e.id,
      name: e.name,
      status: e.status as UserProject['status'],
      role: e.role as Role,
      updated_at: typeof e.updated_at === 'string' ? e.updated_at : '',
    });
  }
  return projects;
}

/** `GET /api/projects` with the session's token: the projects the signed-in user belongs to. */
export async function fetchProjectList(token: string, fetchImpl: typeof fetch = fetch): Promise<UserProject[]> {
  let response: Response;
  try {
    response = await fetchImpl('/api/projects', { headers: { authorization: `Bearer ${token}` } });
  } catch {
    throw new ProjectListError('The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 401) throw new ProjectListError('Your session has ended. Sign in again.', true);
  if (!response.ok) throw new ProjectListError(`Your projects could not be loaded (HTTP ${response.status}). Try again in a moment.`);
  const projects = parseProjectList(await response.json().catch(() => null));
  if (!projects) throw new ProjectListError('The server sent a project list this app does not understand.');
  return projects;
}

/** How a project's status reads in the list. */
export function statusLabel(status: UserProject['status']): string {
  return status === 'in_progress' ? 'In progress' : status === 'on_hold' ? 'On hold' : status.charAt(0).toUpperCase() + status.slice(1);
}
