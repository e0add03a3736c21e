import { Module } from '@nestjs/common';
import { ProjectMembersModule } from '@siteflow/servicekit';
import { LockEventsConsumer } from './locks/lock-events.consumer.js';
import { PresenceController } from './room/presence.controller.js';
import { PresenceService } from './room/presence.service.js';

@Module({
  imports: [
    ProjectMembersModule.register({
      table: 'presence.project_members',
      waitForUnknownProjectMs: 2_000,
      follow: { durable: 'presence-members' },
    }),
  ],
  controllers: [PresenceController],
  providers: [PresenceService, LockEventsConsumer],
})
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module is its decorator; the class carries nothing else
export class PresenceModule {}
