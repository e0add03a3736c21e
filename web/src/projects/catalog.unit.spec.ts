import { describe, expect, it } from 'vitest';
import { projectCatalog } from './catalog.js';

describe('projectCatalog', () => {
  it('lists the seeded demo project', async () => {
    const { DEMO_PROJECT } = await import('@siteflow/contracts');
    expect(projectCatalog.map(({ id, name }) => ({ id, name }))).toContainEqual({ id: DEMO_PROJECT.id, name: DEMO_PROJECT.name });
  });
});
