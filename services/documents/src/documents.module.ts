import { Module } from '@nestjs/common';
import { ProjectsController } from './projects/projects.controller.js';

@Module({ controllers: [ProjectsController] })
export class DocumentsModule {}
