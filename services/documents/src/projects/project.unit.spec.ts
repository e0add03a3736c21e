import { describe, expect, it } from 'vitest';
import { AppError } from '@siteflow/contracts';
import { decide, evolve, initialProjectState, type CreateProject, type ProjectEvent } from './project.js';

const now = new Date('2026-11-24T09:00:00.000Z');
const create: CreateProject = {
  type: 'CreateProject',
  data: {
    projectId: 1,
    name: 'Demo project',
    members: [{ user_id: 1, username: 'alice', role: 'admin', avatar_url: '/avatars/alice.svg' }],
    createdBy: null,
    now,
  },
};
const stateOf = (events: ProjectEvent[]) => events.reduce(evolve, initialProjectState);

describe('project decider', () => {
  it('creates a project in planning with its members', () => {
    expect(decide(create, stateOf([]))).toEqual([
      {
        type: 'ProjectCreated',
        data: { project_id: 1, name: 'Demo project', status: 'planning', members: create.data.members, created_by: null, created_at: now.toISOString() },
      },
    ]);
  });

  it('refuses to create a project twice', () => {
    const existing = stateOf(decide(create, initialProjectState));
    expect(() => decide(create, existing)).toThrowError(AppError);
    try {
      decide(create, existing);
    } catch (e) {
      expect((e as AppError).code).toBe('already_exists');
    }
  });

  it('refuses a project without members', () => {
    expect(() => decide({ ...create, data: { ...create.data, members: [] } }, initialProjectState)).toThrowError(/at least one member/);
  });
});
