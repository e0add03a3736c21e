import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ProjectMember } from '@siteflow/contracts';
import { consumeEvents, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { ensureChecklist } from '../items/checklist.service.js';

/** The part of the documents service's `ProjectCreated` this service reads. */
const ProjectCreatedEvent = z.object({
  type: z.literal('ProjectCreated'),
  data: z.object({ project_id: z.number().int().positive(), members: z.array(ProjectMember) }),
});

/**
 * Gives every new project its default checklist when the documents service creates it. Creating
 * is idempotent, so a redelivery is harmless.
 */
@Injectable()
export class ProjectCreatedConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private consumer: { stop(): Promise<void> } | null = null;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  onApplicationBootstrap(): void {
    this.consumer = consumeEvents(this.kit, {
      from: 'documents',
      durable: 'checklist-projects',
      filterSubject: 'project.*.ev.documents.ProjectCreated',
      schema: ProjectCreatedEvent,
      handle: async (e) => {
        await ensureChecklist(this.kit, e.data.project_id);
      },
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.stop();
  }
}
