import { AppError, type ProjectMember, type ProjectStatus, type Role } from '@siteflow/contracts';

export const projectStreamId = (projectId: number) => `project-${projectId}`;

export type ProjectCreated = {
  type: 'ProjectCreated';
  data: {
    project_id: number;
    name: string;
    status: ProjectStatus;
    members: ProjectMember[];
    created_by: number | null;
    created_at: string;
  };
};
export type ProjectStatusChanged = {
  type: 'ProjectStatusChanged';
  data: {
    project_id: number;
    status: ProjectStatus;
    previous_status: ProjectStatus;
    changed_by: number;
    changed_by_name: string;
    changed_at: string;
  };
};
export type ProjectRenamed = {
  type: 'ProjectRenamed';
  data: { project_id: number; name: string; renamed_by: number; renamed_at: string };
};
/**
 * Membership changes, all one event type so that a follower reads them in order with one filter:
 * `change` says what happened; `role` is null once the member is removed.
 */
export type ProjectMembershipChanged = {
  type: 'ProjectMembershipChanged';
  data: {
    project_id: number;
    change: 'added' | 'role_changed' | 'removed';
    user_id: number;
    username: string;
    role: Role | null;
    previous_role: Role | null;
    avatar_url: string;
    changed_by: number | null;
    changed_at: string;
  };
};
export type ProjectEvent = ProjectCreated | ProjectStatusChanged | ProjectRenamed | ProjectMembershipChanged;

export type ProjectState =
  | { status: 'absent' }
  | {
      status: 'exists';
      projectId: number;
      name: string;
      projectStatus: ProjectStatus;
      members: ProjectMember[];
      createdAt: string;
      updatedAt: string;
    };

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
        createdAt: event.data.created_at,
        updatedAt: event.data.created_at,
      };
    case 'ProjectStatusChanged':
      return state.status === 'exists' ? { ...state, projectStatus: event.data.status, updatedAt: event.data.changed_at } : state;
    case 'ProjectRenamed':
      return state.status === 'exists' ? { ...state, name: event.data.name, updatedAt: event.data.renamed_at } : state;
    case 'ProjectMembershipChanged': {
      if (state.status !== 'exists') return state;
      const d = event.data;
      const others = state.members.filter((m) => m.user_id !== d.user_id);
      const members =
        d.role === null
          ? others
          : [...others, { user_id: d.user_id, username: d.username, role: d.role, avatar_url: d.avatar_url }].sort(
              (a, b) => a.user_id - b.user_id,
            );
      return { ...state, members, updatedAt: d.changed_at };
    }
  }
}

/** Who asks; project administration is for admins only. */
export type ProjectActor = { userId: number; username: string; role: Role };

export type CreateProject = {
  type: 'CreateProject';
  data: { projectId: number; name: string; members: ProjectMember[]; createdBy: number | null; now: Date };
};
export type SetProjectStatus = { type: 'SetProjectStatus'; data: { actor: ProjectActor; status: ProjectStatus; now: Date } };
export type RenameProject = { type: 'RenameProject'; data: { actor: ProjectActor; name: string; now: Date } };
/** Adds a member or changes their role or name (the projects API: Siteflow says who is in). */
export type PutMember = { type: 'PutMember'; data: { member: ProjectMember; changedBy: number | null; now: Date } };
export type RemoveMember = { type: 'RemoveMember'; data: { userId: number; changedBy: number | null; now: Date } };
export type ProjectCommand = CreateProject | SetProjectStatus | RenameProject | PutMember | RemoveMember;

function administered(state: ProjectState, actor: ProjectActor, what: string): Extract<ProjectState, { status: 'exists' }> {
  if (actor.role !== 'admin') throw new AppError('forbidden', `only an admin may ${what}`);
  if (state.status === 'absent') throw new AppError('not_found', 'no such project');
  return state;
}

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
    case 'SetProjectStatus': {
      const { actor, status, now } = command.data;
      const project = administered(state, actor, 'change the project status');
      if (project.projectStatus === status) return [];
      return [
        {
          type: 'ProjectStatusChanged',
          data: {
            project_id: project.projectId,
            status,
            previous_status: project.projectStatus,
            changed_by: actor.userId,
            changed_by_name: actor.username,
            changed_at: now.toISOString(),
          },
        },
      ];
    }
    case 'RenameProject': {
      const { actor, name, now } = command.data;
      const project = administered(state, actor, 'rename the project');
      if (project.name === name) return [];
      return [
        { type: 'ProjectRenamed', data: { project_id: project.projectId, name, renamed_by: actor.userId, renamed_at: now.toISOString() } },
      ];
    }
    case 'PutMember': {
      if (state.status === 'absent') throw new AppError('not_found', 'no such project');
      const { member, changedBy, now } = command.data;
      const current = state.members.find((m) => m.user_id === member.user_id);
      if (current && current.role === member.role && current.username === member.username && current.avatar_url === member.avatar_url)
        return [];
      return [
        {
          type: 'ProjectMembershipChanged',
          data: {
            project_id: state.projectId,
            change: current ? 'role_changed' : 'added',
            user_id: member.user_id,
            username: member.username,
            role: member.role,
            previous_role: current?.role ?? null,
            avatar_url: member.avatar_url,
            changed_by: changedBy,
            changed_at: now.toISOString(),
          },
        },
      ];
    }
    case 'RemoveMember': {
      if (state.status === 'absent') throw new AppError('not_found', 'no such project');
      const { userId, changedBy, now } = command.data;
      const current = state.members.find((m) => m.user_id === userId);
      if (!current) throw new AppError('not_found', `user ${userId} is not a member of project ${state.projectId}`);
      // A project nobody can open would be lost to everyone: Siteflow deletes projects, not their last member.
      if (state.members.length === 1)
        throw new AppError('last_member', 'the last member of a project cannot be removed: a project nobody can open would be lost');
      return [
        {
          type: 'ProjectMembershipChanged',
          data: {
            project_id: state.projectId,
            change: 'removed',
            user_id: userId,
            username: current.username,
            role: null,
            previous_role: current.role,
            avatar_url: current.avatar_url,
            changed_by: changedBy,
            changed_at: now.toISOString(),
          },
        },
      ];
    }
    default: {
      const unknown: never = command;
      throw new AppError('invalid_payload', `unknown command ${JSON.stringify(unknown)}`);
    }
  }
}
