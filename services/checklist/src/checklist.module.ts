import { Module } from '@nestjs/common';
import { ChecklistController } from './items/checklist.controller.js';

@Module({ controllers: [ChecklistController] })
export class ChecklistModule {}
