import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { commandRequest, subjects, type DocumentMeta, type ProjectInfo, type ReplyEnvelope, type ServiceSnapshot } from '@siteflow/contracts';
import { handle, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { loadProject } from './projects.read-model.js';
import { projectStreamId } from './project.js';

const SnapshotRequest = commandRequest(z.object({}));

@Controller()
export class ProjectsController {
  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  /** The documents part of the room snapshot: the project and its documents (documents: issue 3). */
  @MessagePattern(subjects.snapshot('documents'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<{ project: ProjectInfo | null; documents: DocumentMeta[] }>>> {
    return handle(this.kit.logger, 'documents.snapshot', SnapshotRequest, raw, ({ ctx }) =>
      this.kit.store.snapshot(async (tx) => {
        const streamId = projectStreamId(ctx.project_id);
        const version = await tx.streamVersion(streamId);
        const project = await loadProject(tx.client, ctx.project_id);
        return { part: { project, documents: [] }, versions: { [streamId]: version } };
      }),
    );
  }
}
