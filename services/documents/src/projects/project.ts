import { AppError, type ProjectMember, type ProjectStatus } from '@siteflow/contracts';

export const projectStreamId = (projectId: number) => `project-${projectId}`;

export type ProjectCreated = {
  type: 'ProjectCreated';
  data: { project_id: number; name: string; status: ProjectStatus; members: ProjectMember[]; created_by: number | null; created_at: string };
};
export type ProjectEvent = ProjectCreated;

export type ProjectState =
  | { status: 'absent' }
  | { status: 'exists'; projectId: number; name: string; projectStatus: ProjectStatus; members: ProjectMember[] };

export const initialProjectState: ProjectState = { status: 'absent' };

export function evolve(state: ProjectState, event: ProjectEvent): ProjectState {
  switch (event.type) {
    case 'ProjectCreated':
      return {
        status: 'exists',
        projectId: event.data.project_id,
        name: event.data.name,
        projectStatus: event.data.status,
        members: event.data.members,
      };
  }
}

export type CreateProject = {
  type: 'CreateProject';
  data: { projectId: number; name: string; members: ProjectMember[]; createdBy: number | null; now: Date };
};
export type ProjectCommand = CreateProject;

export function decide(command: ProjectCommand, state: ProjectState): ProjectEvent[] {
  switch (command.type) {
    case 'CreateProject': {
      if (state.status === 'exists') throw new AppError('already_exists', `project ${command.data.projectId} already exists`);
      if (command.data.members.length === 0) throw new AppError('invalid_payload', 'a project needs at least one member');
      return [
        {
          type: 'ProjectCreated',
          data: {
            project_id: command.data.projectId,
            name: command.data.name,
            status: 'planning',
            members: command.data.members,
            created_by: command.data.createdBy,
            created_at: command.data.now.toISOString(),
          },
        },
      ];
    }
    default: {
      const unknown: never = command.type;
      throw new AppError('invalid_payload', `unknown command ${String(unknown)}`);
    }
  }
}
