import type { ProjectStatus } from '@siteflow/contracts';
import { PROJECT_NAME_MAX, PROJECT_STATUSES } from '@siteflow/contracts/constants';

export const projectStatusLabel: Record<ProjectStatus, string> = {
  draft: 'Draft',
  planning: 'Planning',
  in_progress: 'In progress',
  review: 'In review',
  completed: 'Completed',
  on_hold: 'On hold',
};

/** The statuses in their usual order. */
export const projectStatuses: readonly ProjectStatus[] = PROJECT_STATUSES;

/** Why a project name would be refused (the server trims, then bounds), or null when it is fine. */
export function projectNameProblem(name: string): string | null {
  const length = name.trim().length;
  if (length === 0) return 'Give the project a name.';
  if (length > PROJECT_NAME_MAX) return `Keep the name to ${PROJECT_NAME_MAX} characters (this one has ${length}).`;
  return null;
}
