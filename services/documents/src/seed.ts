import { AppError, DEMO_PROJECT, DEMO_USERS } from '@siteflow/contracts';
import type { ServiceKit } from '@siteflow/servicekit';
import { ConcurrencyError } from '@siteflow/eventstore';
import { createProject } from './projects/projects.service.js';

/** Seeds demo project 1 once; a second instance (or a restart) finds it there and moves on. */
export async function seedDemo(kit: ServiceKit): Promise<void> {
  try {
    await createProject(kit, {
      projectId: DEMO_PROJECT.id,
      name: DEMO_PROJECT.name,
      members: DEMO_USERS.map((u) => ({ user_id: u.id, username: u.username, role: u.role, avatar_url: u.avatar_url })),
      createdBy: null,
    });
    kit.logger.info('seeded demo project 1');
  } catch (e) {
    if ((e instanceof AppError && e.code === 'already_exists') || e instanceof ConcurrencyError) return;
    throw e;
  }
}
