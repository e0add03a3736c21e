import * as contracts from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { PROJECT_NAME_MAX } from '@siteflow/contracts/constants';
import { projectNameProblem } from './projectStatus.js';

describe('projectNameProblem', () => {
  it("accepts exactly what the server's schema accepts as a new project name", () => {
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
