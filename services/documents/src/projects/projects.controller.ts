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
    return handle(this.kit.logger, 'documents.snapshot', SnapshotRequest, raw, async ({ ctx }) => {
      const client = await this.kit.pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const project = await loadProject(client, ctx.project_id);
        const streamId = projectStreamId(ctx.project_id);
        const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM documents.events WHERE stream_id = $1', [streamId]);
        await client.query('COMMIT');
        return { part: { project, documents: [] }, versions: { [streamId]: rows[0]?.v ?? 0 } };
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    });
  }
}
