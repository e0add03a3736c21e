import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  commandRequest,
  CREATE_PROJECT_SUBJECT,
  CreateProjectPayload,
  MEMBERSHIP_SUBJECT,
  projectClientEvents,
  SetProjectStatusPayload,
  subjects,
  UpdateProjectPayload,
  type DocumentMeta,
  type MembershipReply,
  type ProjectInfo,
  type ReplyEnvelope,
  type ServiceSnapshot,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { documentStreamId } from '../documents/document.js';
import { listDocuments } from '../documents/documents.read-model.js';
import { loadProject } from './projects.read-model.js';
import { projectStreamId } from './project.js';
import { createProject, runProjectCommand } from './projects.service.js';

const SnapshotRequest = commandRequest(z.object({}));
const SetStatusRequest = commandRequest(SetProjectStatusPayload);
const UpdateRequest = commandRequest(UpdateProjectPayload);
const CreateRequest = commandRequest(CreateProjectPayload);
const MembershipRequest = commandRequest(z.object({}));

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
  membership(@Payload() raw: unknown): Promise<ReplyEnvelope<MembershipReply>> {
    return handle(this.kit.logger, MEMBERSHIP_SUBJECT, MembershipRequest, raw, async ({ ctx }) => ({ role: (await this.members.require(ctx)).role }));
  }

  /** `project:set_status` (admins): broadcast as `project:status_change`. */
  @MessagePattern(projectClientEvents['project:set_status'].subject)
  setStatus(@Payload() raw: unknown) {
    return handle(this.kit.logger, 'documents.project.set_status', SetStatusRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const actor = { userId: ctx.user_id, username: ctx.username, role: ctx.role };
      const { state } = await runProjectCommand(this.kit, ctx.project_id, (now) => ({ type: 'SetProjectStatus', data: { actor, status: payload.status, now } }));
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
      const { state } = await runProjectCommand(this.kit, ctx.project_id, (now) => ({ type: 'RenameProject', data: { actor, name: payload.name, now } }));
      if (state.status === 'absent') throw new AppError('not_found', 'no such project');
      return { id: state.projectId, name: state.name, status: state.projectStatus, created_at: state.createdAt, updated_at: state.updatedAt };
    });
  }

  /** Creates a project with its members and 9 documents (admins). */
  @MessagePattern(CREATE_PROJECT_SUBJECT)
  create(@Payload() raw: unknown) {
    return handle(this.kit.logger, CREATE_PROJECT_SUBJECT, CreateRequest, raw, async ({ ctx, payload }) => {
      // Not a room event: there is no project to be a member of yet; admin tools only (infra/nats).
      if (ctx.role !== 'admin') throw new AppError('forbidden', 'only an admin may create a project');
      await createProject(this.kit, { projectId: payload.project_id, name: payload.name, members: payload.members, createdBy: ctx.user_id });
      const client = await this.kit.pool.connect();
      try {
        return { project: await loadProject(client, payload.project_id), documents: await listDocuments(client, payload.project_id) };
      } finally {
        client.release();
      }
    });
  }
}
