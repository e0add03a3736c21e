import * as contracts from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { projectTopic, userTopic } from './topics.js';

describe('projectTopic', () => {
  it('is the contracts topic and passes its validation', () => {
    for (const id of [1, 42, 9007199254740991]) {
      expect(projectTopic(id)).toBe(contracts.projectTopic(id));
      expect(contracts.ProjectTopic.safeParse(projectTopic(id)).success).toBe(true);
    }
  });
});

describe('userTopic', () => {
  it('is the contracts topic and passes its validation', () => {
    for (const id of [1, 42, 9007199254740991]) {
      expect(userTopic(id)).toBe(contracts.userTopic(id));
      expect(contracts.UserTopic.safeParse(userTopic(id)).success).toBe(true);
    }
  });
});
