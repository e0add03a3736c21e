import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { ChecklistModule } from './checklist.module.js';
import { checklistMigrations } from './migrations.js';

await bootService({ name: 'checklist', modules: [ChecklistModule], migrations: checklistMigrations });
