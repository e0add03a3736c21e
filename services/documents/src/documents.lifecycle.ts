import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import type { DocumentsConfig } from './config.js';
import { releaseOnConnectionClosed, releaseOnConnectionEvicted, startLockSweep } from './locks/lock-release.js';
import { ensureEveryProjectsDocuments } from './projects/projects.service.js';

/**
 * The documents service's work besides answering requests, on Nest's lifecycle like every other
 * service's: before it answers (so a health reply means the demo project and every project's
 * documents are there), the demo seed and the documents of new types; then the lock releases (a
 * closed socket, an evicted connection) and the lock sweep. Stopped first when the service stops
 * (`app.close()` runs this before the pool closes: a sweep or an eviction starting after that
 * would only log failures).
 */
@Injectable()
export class DocumentsLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  private stopSweep: () => void = () => undefined;
  private evictions: { stop(): Promise<void> } | null = null;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit<DocumentsConfig>) {}

  async onApplicationBootstrap(): Promise<void> {
    // The demo data is loaded only when asked for: it is no part of a deployment's code path.
    if (this.kit.config.SEED_DEMO) await (await import('./seed.js')).seedDemo(this.kit);
    const added = await ensureEveryProjectsDocuments(this.kit);
    if (added > 0) this.kit.logger.info({ added }, 'gave stored projects the documents of new types');
    releaseOnConnectionClosed(this.kit);
    this.evictions = releaseOnConnectionEvicted(this.kit);
    this.stopSweep = startLockSweep(this.kit);
  }

  onModuleDestroy(): void {
    this.stopSweep();
    void this.evictions?.stop();
  }
}
