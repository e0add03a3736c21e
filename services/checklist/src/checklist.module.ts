import { Module } from '@nestjs/common';
import { ProjectMembersModule } from '@siteflow/servicekit';
import { ChecklistController } from './items/checklist.controller.js';
import { ensureChecklist } from './items/checklist.service.js';

@Module({
  imports: [
    // Every new project gets its default checklist, and its members are recorded for the checks.
    ProjectMembersModule.register({
      table: 'checklist.project_members',
      waitForUnknownProjectMs: 2_000,
      follow: { durable: 'checklist-members', onProjectCreated: (kit, project) => ensureChecklist(kit, project.project_id) },
    }),
  ],
  controllers: [ChecklistController],
})
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module is its decorator; the class carries nothing else
export class ChecklistModule {}
