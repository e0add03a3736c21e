import * as contracts from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { computeProgress } from './checklistState.js';

describe('computeProgress', () => {
  it('is the contracts computation', () => {
    for (const [done, total] of [[0, 0], [1, 3], [2, 3], [27, 40], [40, 40], [1, 7]] as const) {
      expect(computeProgress(done, total)).toEqual(contracts.computeProgress(done, total));
    }
  });
});
