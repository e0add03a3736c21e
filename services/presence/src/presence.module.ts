import { Module } from '@nestjs/common';
import { PresenceController } from './room/presence.controller.js';

@Module({ controllers: [PresenceController] })
export class PresenceModule {}
