import type { ProjectStatus } from '@siteflow/contracts';

export const projectStatusLabel: Record<ProjectStatus, string> = {
  draft: 'Draft',
  planning: 'Planning',
  in_progress: 'In progress',
  review: 'In review',
  completed: 'Completed',
  on_hold: 'On hold',
};
