import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ProjectCreatedEvent } from '@siteflow/contracts';
import { consumeEvents, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { ensureChecklist } from '../items/checklist.service.js';

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
