import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { PresenceLockAcquired, PresenceLockReleased, PublishedEvent } from '@siteflow/contracts';
import { consumeEvents, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { PresenceService } from '../room/presence.service.js';

/** Shared by every presence instance: each lock event is handled once, none lost while we are down. */
export const LOCK_EVENTS_CONSUMER = 'presence-document-locks';

/**
 * Metadata follows the user: documents' `LockAcquired`/`LockReleased` switch the holder's meta
 * (editing, current_document, editing_since), driven by stored events rather than the client.
 * Events of connections that are gone (an old history replayed once, when the consumer is first
 * created) change nothing.
 */
@Injectable()
export class LockEventsConsumer implements OnModuleInit, OnModuleDestroy {
  private consumer: { stop(): Promise<void> } | null = null;

  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    private readonly presence: PresenceService,
  ) {}

  onModuleInit(): void {
    this.consumer = consumeEvents(this.kit, {
      from: 'documents',
      durable: LOCK_EVENTS_CONSUMER,
      filterSubject: 'project.*.ev.documents.>',
      // A save (up to 512 KiB of content) and every other documents event is acknowledged unread.
      types: ['LockAcquired', 'LockReleased'],
      schema: PublishedEvent,
      maxMessages: 64,
      handle: (event) => this.handle(event),
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.stop();
  }

  private async handle(event: PublishedEvent): Promise<void> {
    if (event.type === 'LockAcquired') {
      const d = PresenceLockAcquired.safeParse(event.data);
      if (!d.success) {
        this.skip(event.type);
        return;
      }
      await this.presence.applyLock(
        { projectId: d.data.project_id, userId: d.data.user_id, connectionId: d.data.connection_id },
        { type: 'acquired', documentId: d.data.document_id, at: d.data.locked_at },
      );
    } else if (event.type === 'LockReleased') {
      const d = PresenceLockReleased.safeParse(event.data);
      if (!d.success) {
        this.skip(event.type);
        return;
      }
      await this.presence.applyLock(
        { projectId: d.data.project_id, userId: d.data.user_id, connectionId: d.data.connection_id },
        { type: 'released', documentId: d.data.document_id },
      );
    }
  }

  private skip(type: string): void {
    this.kit.logger.warn({ type }, 'documents lock event with unexpected data skipped');
  }
}
