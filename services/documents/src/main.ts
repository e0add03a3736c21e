import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { DocumentsConfig } from './config.js';
import { DocumentsModule } from './documents.module.js';
import { releaseOnConnectionClosed, releaseOnConnectionEvicted, startLockSweep } from './locks/lock-release.js';
import { documentsMigrations } from './migrations.js';
import { ensureEveryProjectsDocuments } from './projects/projects.service.js';

await bootService({
  name: 'documents',
  modules: [DocumentsModule],
  migrations: documentsMigrations,
  configSchema: DocumentsConfig,
  afterStart: async (kit) => {
    // The demo data is loaded only when asked for: it is no part of a deployment's code path.
    if (kit.config.SEED_DEMO) await (await import('./seed.js')).seedDemo(kit);
    const added = await ensureEveryProjectsDocuments(kit);
    if (added > 0) kit.logger.info({ added }, 'gave stored projects the documents of new types');
    releaseOnConnectionClosed(kit);
    const evictions = releaseOnConnectionEvicted(kit);
    const stopSweep = startLockSweep(kit);
    // The kit's own stop closes the pool; a sweep or an eviction starting after that would only log failures.
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        stopSweep();
        void evictions.stop();
      });
    }
  },
});
