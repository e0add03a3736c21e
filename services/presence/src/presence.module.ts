import { Module } from '@nestjs/common';
import { LockEventsConsumer } from './locks/lock-events.consumer.js';
import { PresenceController } from './room/presence.controller.js';
import { PresenceService } from './room/presence.service.js';

@Module({ controllers: [PresenceController], providers: [PresenceService, LockEventsConsumer] })
export class PresenceModule {}
