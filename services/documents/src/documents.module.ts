import { Module } from '@nestjs/common';
import { DocumentsController } from './documents/documents.controller.js';
import { LocksController } from './locks/locks.controller.js';
import { ProjectsController } from './projects/projects.controller.js';
import { VersionsController } from './versions/versions.controller.js';

@Module({ controllers: [ProjectsController, DocumentsController, LocksController, VersionsController] })
export class DocumentsModule {}
