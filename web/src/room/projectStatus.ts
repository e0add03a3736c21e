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
