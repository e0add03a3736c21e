import { Module } from '@nestjs/common';
import { ChecklistController } from './items/checklist.controller.js';
import { ProjectCreatedConsumer } from './projects/project-created.consumer.js';

@Module({ controllers: [ChecklistController], providers: [ProjectCreatedConsumer] })
export class ChecklistModule {}
