import { Module } from '@nestjs/common';
import { ProjectMembersModule } from '@siteflow/servicekit';
import { DocumentsController } from './documents/documents.controller.js';
import { DocumentsLifecycle } from './documents.lifecycle.js';
import { LocksController } from './locks/locks.controller.js';
import { ProjectsController } from './projects/projects.controller.js';
import { VersionsController } from './versions/versions.controller.js';

@Module({
  // documents owns projects: its members table is written with their events, so a project it does
  // not know does not exist (no waiting).
  imports: [ProjectMembersModule.register({ table: 'documents.project_members', waitForUnknownProjectMs: 0 })],
  controllers: [ProjectsController, DocumentsController, LocksController, VersionsController],
  providers: [DocumentsLifecycle],
})
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module is its decorator; the class carries nothing else
export class DocumentsModule {}
