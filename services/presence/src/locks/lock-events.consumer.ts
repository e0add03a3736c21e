import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { PresenceLockAcquired, PresenceLockReleased, PublishedEvent, streamFor } from '@siteflow/contracts';
import { ensureStream } from '@siteflow/eventstore';
import { SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { PresenceService } from '../room/presence.service.js';

/** Shared by every presence instance: each lock event is handled once, none lost while we are down. */
export const LOCK_EVENTS_CONSUMER = 'presence-document-locks';

/**
 * Metadata follows the user: documents' `LockAcquired`/`LockReleased` switch the holder's meta
 * (editing, current_document, editing_since), driven by stored events rather than the client.
 */
@Injectable()
export class LockEventsConsumer implements OnModuleInit, OnModuleDestroy {
  private messages: ConsumerMessages | null = null;
  private stopped = false;

  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    private readonly presence: PresenceService,
  ) {}

  async onModuleInit(): Promise<void> {
    const jsm = await jetstreamManager(this.kit.nats);
    const stream = streamFor('documents');
    // Documents may not have started yet; the stream is the same one its relay ensures.
    await ensureStream(jsm, stream);
    await jsm.consumers.add(stream.name, {
      durable_name: LOCK_EVENTS_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: 'project.*.ev.documents.>',
      ack_wait: 30_000_000_000,
      max_deliver: -1,
    });
    const consumer = await jetstream(this.kit.nats).consumers.get(stream.name, LOCK_EVENTS_CONSUMER);
    this.messages = await consumer.consume({ max_messages: 64 });
    void this.run(this.messages).catch((err) => {
      if (!this.stopped) this.kit.logger.error({ err }, 'lock events consumer stopped');
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      try {
        await this.handle(m);
        m.ack();
      } catch (err) {
        this.kit.logger.warn({ err, subject: m.subject }, 'lock event not applied; redelivering');
        m.nak(1_000);
      }
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    let json: unknown;
    try {
      json = m.json();
    } catch {
      json = null;
    }
    const event = PublishedEvent.safeParse(json);
    if (!event.success) {
      this.kit.logger.warn({ subject: m.subject }, 'malformed documents event skipped');
      return;
    }
    if (event.data.type === 'LockAcquired') {
      const d = PresenceLockAcquired.safeParse(event.data.data);
      if (!d.success) return this.skip(m, event.data.type);
      await this.presence.applyLock(
        { projectId: d.data.project_id, userId: d.data.user_id, connectionId: d.data.connection_id },
        { type: 'acquired', documentId: d.data.document_id, at: d.data.locked_at },
      );
    } else if (event.data.type === 'LockReleased') {
      const d = PresenceLockReleased.safeParse(event.data.data);
      if (!d.success) return this.skip(m, event.data.type);
      await this.presence.applyLock(
        { projectId: d.data.project_id, userId: d.data.user_id, connectionId: d.data.connection_id },
        { type: 'released', documentId: d.data.document_id },
      );
    }
  }

  private skip(m: JsMsg, type: string): void {
    this.kit.logger.warn({ subject: m.subject, type }, 'documents lock event with unexpected data skipped');
  }
}
