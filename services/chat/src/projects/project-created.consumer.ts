import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ProjectCreatedEvent } from '@siteflow/contracts';
import { consumeEvents, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { saveMembers } from '../messages/messages.read-model.js';

/**
 * Learns each project's members (whose unread counts a message moves) from the documents
 * service's `ProjectCreated`. Recording is idempotent, so a redelivery is harmless.
 */
@Injectable()
export class ProjectCreatedConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private consumer: { stop(): Promise<void> } | null = null;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  onApplicationBootstrap(): void {
    this.consumer = consumeEvents(this.kit, {
      from: 'documents',
      durable: 'chat-projects',
      filterSubject: 'project.*.ev.documents.ProjectCreated',
      schema: ProjectCreatedEvent,
      handle: async (e) => {
        await saveMembers(this.kit.pool, e.data.project_id, e.data.members);
      },
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.stop();
  }
}
