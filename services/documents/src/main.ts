import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { DocumentsModule } from './documents.module.js';
import { documentsMigrations } from './migrations.js';
import { seedDemo } from './seed.js';

await bootService({
  name: 'documents',
  modules: [DocumentsModule],
  migrations: documentsMigrations,
  afterStart: async (kit) => {
    if (kit.config.SEED_DEMO) await seedDemo(kit);
  },
});
