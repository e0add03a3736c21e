import * as contracts from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { PROJECT_NAME_MAX, projectNameProblem, projectStatuses } from './projectStatus.js';

describe('project statuses', () => {
  it('offers exactly the statuses of the contracts, in their order', () => {
    expect(projectStatuses).toEqual(contracts.ProjectStatus.options);
  });
});

describe('projectNameProblem', () => {
  it('accepts exactly what the contracts accept as a new project name', () => {
    const names = [
      '',
      '   ',
      'a',
      ' Harbour office ',
      'x'.repeat(PROJECT_NAME_MAX),
      ` ${'x'.repeat(PROJECT_NAME_MAX)} `,
      'x'.repeat(PROJECT_NAME_MAX + 1),
    ];
    for (const name of names) {
      expect(contracts.UpdateProjectPayload.safeParse({ name }).success, JSON.stringify(name)).toBe(projectNameProblem(name) === null);
    }
    expect(projectNameProblem('   ')).toBe('Give the project a name.');
    expect(projectNameProblem('x'.repeat(PROJECT_NAME_MAX + 1))).toContain(`${PROJECT_NAME_MAX + 1}`);
  });
});
