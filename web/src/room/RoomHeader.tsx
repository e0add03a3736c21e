import type { ProjectInfo } from '@siteflow/contracts';
import type { ReactNode } from 'react';
import { projectStatusLabel } from './projectStatus.js';

export function RoomHeader({
  project,
  projectId,
  rename,
  children,
}: {
  project: ProjectInfo | null;
  projectId: number;
  rename?: ReactNode;
  children?: ReactNode;
}) {
  return (
    <div className="room-header">
      <div className="room-heading">
        <p className="eyebrow">Planning room</p>
        <h1 className="page-title">{project?.name ?? `Project ${projectId}`}</h1>
        {project && <span className={`status-pill status-${project.status}`}>{projectStatusLabel[project.status]}</span>}
        {rename}
      </div>
      {children}
    </div>
  );
}
