import type { ProjectStatus } from '@siteflow/contracts';

export const projectStatusLabel: Record<ProjectStatus, string> = {
  draft: 'Draft',
  planning: 'Planning',
  in_progress: 'In progress',
  review: 'In review',
  completed: 'Completed',
  on_hold: 'On hold',
};

/** The statuses in their usual order (the keys of the label map, so the compiler checks them against the contracts). */
export const projectStatuses = Object.keys(projectStatusLabel) as ProjectStatus[];

/** Mirrors the contracts' bound of `project:update`'s name (a unit test keeps them equal). */
export const PROJECT_NAME_MAX = 200;

/** Why a project name would be refused (the server trims, then bounds), or null when it is fine. */
export function projectNameProblem(name: string): string | null {
  const length = name.trim().length;
  if (length === 0) return 'Give the project a name.';
  if (length > PROJECT_NAME_MAX) return `Keep the name to ${PROJECT_NAME_MAX} characters (this one has ${length}).`;
  return null;
}
