import { AppError } from '@siteflow/contracts';
import type { ServiceKit } from '@siteflow/servicekit';
import { ConcurrencyError } from '@siteflow/eventstore';
import { DEMO_CONTENT, DEMO_PROJECT } from '@siteflow/demo';
import { createProject, ensureProjectDocuments } from './projects/projects.service.js';

/**
 * Seeds demo project 1 with its 9 documents once; a second instance (or a restart) finds them there
 * and moves on. A project stored before it had documents gets them now. Loaded only with
 * SEED_DEMO=true (DocumentsLifecycle imports it then), so the demo data is no part of a deployment's code path.
 */
export async function seedDemo(kit: ServiceKit): Promise<void> {
  try {
    await createProject(kit, {
      projectId: DEMO_PROJECT.id,
      name: DEMO_PROJECT.name,
      members: [...DEMO_PROJECT.members],
      createdBy: null,
      contentOf: (type) => DEMO_CONTENT[type],
    });
    kit.logger.info('seeded demo project 1');
  } catch (e) {
    if (!((e instanceof AppError && e.code === 'already_exists') || e instanceof ConcurrencyError)) throw e;
    const added = await ensureProjectDocuments(kit, DEMO_PROJECT.id, (type) => DEMO_CONTENT[type]);
    if (added > 0) kit.logger.info({ added }, 'added the missing documents of demo project 1');
  }
}
