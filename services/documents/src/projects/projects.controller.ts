import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AdminCreatePayload,
  AdminPutMemberPayload,
  AdminRemoveMemberPayload,
  AdminUpdatePayload,
  adminProjectSubjects,
  adminRequest,
  AppError,
  PROJECTS_OF_USER_SUBJECT,
  commandRequest,
  CREATE_PROJECT_SUBJECT,
  CreateProjectPayload,
  MEMBERSHIP_SUBJECT,
  MembershipPayload,
  NOT_A_MEMBER,
  projectClientEvents,
  SetProjectStatusPayload,
  subjects,
  UpdateProjectPayload,
  type DocumentMeta,
  type MembershipManyReply,
  type MembershipReply,
  type ProjectInfo,
  type ReplyEnvelope,
  type ServiceSnapshot,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, runStreamCommand, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { documentStreamId } from '../documents/document.js';
import { listDocuments } from '../documents/documents.read-model.js';
import { listProjects, loadProject, nextProjectId, projectsOfUser } from './projects.read-model.js';
import { projectStreamId } from './project.js';
import { createProject, projectCommand, putMember, removeMember } from './projects.service.js';

const SnapshotRequest = commandRequest(z.object({}));
const SetStatusRequest = commandRequest(SetProjectStatusPayload);
const UpdateRequest = commandRequest(UpdateProjectPayload);
const CreateRequest = commandRequest(CreateProjectPayload);
const MembershipRequest = commandRequest(MembershipPayload);
const AdminCreateRequest = adminRequest(AdminCreatePayload);
const AdminUpdateRequest = adminRequest(AdminUpdatePayload);
const AdminPutMemberRequest = adminRequest(AdminPutMemberPayload);
const AdminRemoveMemberRequest = adminRequest(AdminRemoveMemberPayload);
const AdminListRequest = adminRequest(z.object({ limit: z.number().int().min(1).max(1000).default(200) }));
const ProjectsOfUserRequest = adminRequest(z.object({}));
/** Projects are created with the id Siteflow gives them; without one, ids are taken this many times before giving up. */
const FRESH_ID_TRIES = 5;

@Controller()
export class ProjectsController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  /** The documents part of the room snapshot: the project and every document's metadata and lock. */
  @MessagePattern(subjects.snapshot('documents'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<{ project: ProjectInfo | null; documents: DocumentMeta[] }>>> {
    return handle(this.kit.logger, 'documents.snapshot', SnapshotRequest, raw, async ({ ctx: asked }) => {
      const ctx = await this.members.require(asked);
      return this.kit.store.snapshot(async (tx) => {
        const streamId = projectStreamId(ctx.project_id);
        const version = await tx.streamVersion(streamId);
        const project = await loadProject(tx.client, ctx.project_id);
        const rows = await listDocuments(tx.client, ctx.project_id);
        const versions: Record<string, number> = { [streamId]: version };
        const documents = rows.map(({ stream_version, ...meta }) => {
          versions[documentStreamId(meta.id)] = stream_version;
          return meta;
        });
        return { part: { project, documents }, versions };
      });
    });
  }

  /**
   * The one small read a join makes first: the caller's role in the project, or `unauthorized`
   * alike for a missing project and a non-member (one primary-key lookup, nothing else is read).
   */
  @MessagePattern(MEMBERSHIP_SUBJECT)
  membership(@Payload() raw: unknown): Promise<ReplyEnvelope<MembershipReply | MembershipManyReply>> {
    return handle(this.kit.logger, MEMBERSHIP_SUBJECT, MembershipRequest, raw, async ({ ctx, payload }) => {
      if (payload.users === undefined) return { role: (await this.members.require(ctx)).role };
      // A gateway's joins of one room, asked together: each user as if it had asked itself.
      const roles = await Promise.all(
        payload.users.map((user_id) =>
          this.members.require({ ...ctx, user_id }).then(
            (c) => [String(user_id), c.role] as const,
            (err: unknown) => {
              if (err instanceof AppError && err.code === NOT_A_MEMBER.code) return null;
              throw err;
            },
          ),
        ),
      );
      return { roles: Object.fromEntries(roles.filter((r) => r !== null)) };
    });
  }

  /** `project:set_status` (admins): broadcast as `project:status_change`. */
  @MessagePattern(projectClientEvents['project:set_status'].subject)
  setStatus(@Payload() raw: unknown) {
    return handle(this.kit.logger, 'documents.project.set_status', SetStatusRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const actor = { userId: ctx.user_id, username: ctx.username, role: ctx.role };
      const { state } = await runStreamCommand(
        this.kit.store,
        projectCommand(ctx.project_id, (now) => ({
          type: 'SetProjectStatus',
          data: { actor, status: payload.status, now },
        })),
      );
      if (state.status === 'absent') throw new AppError('not_found', 'no such project');
      return { project_id: state.projectId, status: state.projectStatus, updated_at: state.updatedAt };
    });
  }

  /** `project:update` (admins): broadcast as `project:updated`. */
  @MessagePattern(projectClientEvents['project:update'].subject)
  update(@Payload() raw: unknown) {
    return handle(this.kit.logger, 'documents.project.update', UpdateRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const actor = { userId: ctx.user_id, username: ctx.username, role: ctx.role };
      const { state } = await runStreamCommand(
        this.kit.store,
        projectCommand(ctx.project_id, (now) => ({
          type: 'RenameProject',
          data: { actor, name: payload.name, now },
        })),
      );
      if (state.status === 'absent') throw new AppError('not_found', 'no such project');
      return {
        id: state.projectId,
        name: state.name,
        status: state.projectStatus,
        created_at: state.createdAt,
        updated_at: state.updatedAt,
      };
    });
  }

  /** Creates a project with its members and 9 documents (admins). */
  @MessagePattern(CREATE_PROJECT_SUBJECT)
  create(@Payload() raw: unknown) {
    return handle(this.kit.logger, CREATE_PROJECT_SUBJECT, CreateRequest, raw, async ({ ctx, payload }) => {
      // Not a room event: there is no project to be a member of yet; admin tools only (infra/nats).
      if (ctx.role !== 'admin') throw new AppError('forbidden', 'only an admin may create a project');
      await createProject(this.kit, {
        projectId: payload.project_id,
        name: payload.name,
        members: payload.members,
        createdBy: ctx.user_id,
      });
      const client = await this.kit.pool.connect();
      try {
        return { project: await loadProject(client, payload.project_id), documents: await listDocuments(client, payload.project_id) };
      } finally {
        client.release();
      }
    });
  }

  /** The projects API: create (documents and checklist as for any project); 409 `already_exists` for a taken id. */
  @MessagePattern(adminProjectSubjects.create)
  adminCreate(@Payload() raw: unknown) {
    return handle(this.kit.logger, adminProjectSubjects.create, AdminCreateRequest, raw, async ({ by, payload }) => {
      let projectId = payload.project_id;
      for (let attempt = 1; ; attempt++) {
        const id = projectId ?? (await this.withClient((c) => nextProjectId(c)));
        try {
          await createProject(this.kit, { projectId: id, name: payload.name, members: payload.members, createdBy: by.user_id });
          projectId = id;
          break;
        } catch (e) {
          // Two creations without an id may pick the same one: the second takes the next.
          if (payload.project_id !== undefined || !(e instanceof AppError) || e.code !== 'already_exists' || attempt >= FRESH_ID_TRIES)
            throw e;
        }
      }
      const project = await this.withClient((c) => loadProject(c, projectId));
      if (!project) throw new AppError('internal', `project ${projectId} was created but cannot be read`);
      return project;
    });
  }

  /** The projects API: rename and/or set the status, as Siteflow (no room role needed). */
  @MessagePattern(adminProjectSubjects.update)
  adminUpdate(@Payload() raw: unknown) {
    return handle(this.kit.logger, adminProjectSubjects.update, AdminUpdateRequest, raw, async ({ by, payload }) => {
      // Siteflow acts as the project's owner: an admin actor, whoever the token's user is in the room.
      const actor = { userId: by.user_id, username: by.username, role: 'admin' as const };
      if (payload.name !== undefined) {
        const name = payload.name;
        await runStreamCommand(
          this.kit.store,
          projectCommand(payload.project_id, (now) => ({ type: 'RenameProject', data: { actor, name, now } })),
        );
      }
      if (payload.status !== undefined) {
        const status = payload.status;
        await runStreamCommand(
          this.kit.store,
          projectCommand(payload.project_id, (now) => ({ type: 'SetProjectStatus', data: { actor, status, now } })),
        );
      }
      const project = await this.withClient((c) => loadProject(c, payload.project_id));
      if (!project) throw new AppError('not_found', `project ${payload.project_id} does not exist`);
      return project;
    });
  }

  /** The projects API: add a member or change their role; the member as now stored. */
  @MessagePattern(adminProjectSubjects.putMember)
  adminPutMember(@Payload() raw: unknown) {
    return handle(this.kit.logger, adminProjectSubjects.putMember, AdminPutMemberRequest, raw, async ({ by, payload }) => {
      const { events, state } = await putMember(this.kit, payload.project_id, payload.member, by.user_id);
      const member = state.status === 'exists' ? state.members.find((m) => m.user_id === payload.member.user_id) : undefined;
      if (!member) throw new AppError('internal', 'the member was stored but is not in the project');
      return { project_id: payload.project_id, ...member, changed: events.length > 0 };
    });
  }

  /** The projects API: remove a member; their locks in the project are released in the same transaction. */
  @MessagePattern(adminProjectSubjects.removeMember)
  adminRemoveMember(@Payload() raw: unknown) {
    return handle(this.kit.logger, adminProjectSubjects.removeMember, AdminRemoveMemberRequest, raw, async ({ by, payload }) => {
      await removeMember(this.kit, payload.project_id, payload.user_id, by.user_id);
      return { project_id: payload.project_id, user_id: payload.user_id };
    });
  }

  /** The projects API: every project (operators' list). */
  @MessagePattern(adminProjectSubjects.list)
  adminList(@Payload() raw: unknown) {
    return handle(this.kit.logger, adminProjectSubjects.list, AdminListRequest, raw, async ({ payload }) => ({
      projects: await this.withClient((c) => listProjects(c, payload.limit)),
    }));
  }

  /** `GET /api/projects`: the caller's projects with their role in each. */
  @MessagePattern(PROJECTS_OF_USER_SUBJECT)
  projectsOfUser(@Payload() raw: unknown) {
    return handle(this.kit.logger, PROJECTS_OF_USER_SUBJECT, ProjectsOfUserRequest, raw, async ({ by }) => ({
      projects: await this.withClient((c) => projectsOfUser(c, by.user_id)),
    }));
  }

  private async withClient<T>(work: (client: import('pg').PoolClient) => Promise<T>): Promise<T> {
    const client = await this.kit.pool.connect();
    try {
      return await work(client);
    } finally {
      client.release();
    }
  }
}
