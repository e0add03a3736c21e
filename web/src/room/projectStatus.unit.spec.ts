import * as contracts from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { projectStatuses } from './projectStatus.js';

describe('project statuses', () => {
  it('offers exactly the statuses of the contracts, in their order', () => {
    expect(projectStatuses).toEqual(contracts.ProjectStatus.options);
  });
});
