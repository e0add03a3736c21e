import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { ProjectMember, streamFor } from '@siteflow/contracts';
import { ensureStream } from '@siteflow/eventstore';
import { SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { saveMembers } from '../messages/messages.read-model.js';

/** The part of the documents service's `ProjectCreated` this service reads. */
const ProjectCreatedEvent = z.object({
  type: z.literal('ProjectCreated'),
  data: z.object({ project_id: z.number().int().positive(), members: z.array(ProjectMember) }),
});

const DURABLE = 'chat-projects';

/**
 * Learns each project's members (whose unread counts a message moves): a durable consumer (shared
 * by all instances) of the documents service's `ProjectCreated`. Recording is idempotent, so a
 * redelivery is harmless; a failure is retried by JetStream (nak with a delay).
 */
@Injectable()
export class ProjectCreatedConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private messages: ConsumerMessages | null = null;
  private stopped = false;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  onApplicationBootstrap(): void {
    void this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    const log = this.kit.logger.child({ component: DURABLE });
    while (!this.stopped) {
      try {
        const stream = streamFor('documents');
        const jsm = await jetstreamManager(this.kit.nats);
        // The documents service may not have created its stream yet; the config is the one it uses.
        await ensureStream(jsm, stream);
        await jsm.consumers.add(stream.name, {
          durable_name: DURABLE,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: 'project.*.ev.documents.ProjectCreated',
          ack_wait: 30_000_000_000, // nanoseconds: 30 s
        });
        const consumer = await jetstream(this.kit.nats).consumers.get(stream.name, DURABLE);
        this.messages = await consumer.consume();
        if (this.stopped) {
          await this.messages.close();
          break;
        }
        for await (const m of this.messages) {
          const parsed = ProjectCreatedEvent.safeParse(safeJson(m.data));
          if (!parsed.success) {
            log.warn({ subject: m.subject }, 'malformed ProjectCreated; skipped');
            m.term();
            continue;
          }
          try {
            await saveMembers(this.kit.pool, parsed.data.data.project_id, parsed.data.data.members);
            m.ack();
          } catch (err) {
            log.error({ err, project_id: parsed.data.data.project_id }, 'could not record the members; retrying');
            m.nak(1_000);
          }
        }
        if (!this.stopped) log.warn('consumer ended; starting again');
      } catch (err) {
        if (this.stopped) break;
        log.warn({ err }, 'consumer failed; starting again');
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
}
