import { describe, expect, it } from 'vitest';
import type { ProjectMember } from '@siteflow/contracts';
import { deciderSpec } from '@siteflow/testing/decider';
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
const given = deciderSpec({ decide, evolve, initialState: initialProjectState });

describe('project decider', () => {
  it('creates a project in planning with its members', () => {
    given([])
      .when(create)
      .then([
        {
          type: 'ProjectCreated',
          data: {
            project_id: 1,
            name: 'Demo project',
            status: 'planning',
            members: create.data.members,
            created_by: null,
            created_at: now.toISOString(),
          },
        },
      ]);
  });

  it('refuses to create a project twice', () => {
    given(decide(create, initialProjectState)).when(create).thenFails('already_exists');
  });

  it('refuses a project without members', () => {
    given([])
      .when({ ...create, data: { ...create.data, members: [] } })
      .thenFails('invalid_payload', /at least one member/);
  });
});

describe('project administration decider', () => {
  const admin = { userId: 1, username: 'alice', role: 'admin' as const };
  const customer = { userId: 2, username: 'bob', role: 'customer' as const };
  const existing = [decide(create, initialProjectState)[0]!];

  it('an admin changes the status, recording the previous one and who changed it', () => {
    given(existing)
      .when({ type: 'SetProjectStatus', data: { actor: admin, status: 'in_progress', now } })
      .then([
        {
          type: 'ProjectStatusChanged',
          data: {
            project_id: 1,
            status: 'in_progress',
            previous_status: 'planning',
            changed_by: 1,
            changed_by_name: 'alice',
            changed_at: now.toISOString(),
          },
        },
      ]);
  });

  it('setting the status it already has changes nothing', () => {
    given(existing)
      .when({ type: 'SetProjectStatus', data: { actor: admin, status: 'planning', now } })
      .then([]);
  });

  it('customers may neither change the status nor rename the project', () => {
    given(existing)
      .when({ type: 'SetProjectStatus', data: { actor: customer, status: 'completed', now } })
      .thenFails('forbidden');
    given(existing)
      .when({ type: 'RenameProject', data: { actor: customer, name: 'Mine', now } })
      .thenFails('forbidden');
  });

  it('an admin renames the project', () => {
    given(existing)
      .when({ type: 'RenameProject', data: { actor: admin, name: 'Webshop', now } })
      .then([{ type: 'ProjectRenamed', data: { project_id: 1, name: 'Webshop', renamed_by: 1, renamed_at: now.toISOString() } }]);
    expect(
      stateOf([
        ...existing,
        { type: 'ProjectRenamed', data: { project_id: 1, name: 'Webshop', renamed_by: 1, renamed_at: now.toISOString() } },
      ]),
    ).toMatchObject({
      name: 'Webshop',
      updatedAt: now.toISOString(),
    });
  });

  it('administering a project that does not exist is not_found', () => {
    given([])
      .when({ type: 'SetProjectStatus', data: { actor: admin, status: 'completed', now } })
      .thenFails('not_found');
  });
});

describe('project membership decider', () => {
  const alice = create.data.members[0]!;
  const bob: ProjectMember = { user_id: 2, username: 'bob', role: 'customer', avatar_url: '' };
  const created = decide(create, initialProjectState);
  const changed = (
    change: 'added' | 'role_changed' | 'removed',
    m: typeof bob,
    role: 'admin' | 'customer' | null,
    previous: 'admin' | 'customer' | null,
    changedBy: number | null = null,
  ): ProjectEvent => ({
    type: 'ProjectMembershipChanged',
    data: {
      project_id: 1,
      change,
      user_id: m.user_id,
      username: m.username,
      role,
      previous_role: previous,
      avatar_url: m.avatar_url,
      changed_by: changedBy,
      changed_at: now.toISOString(),
    },
  });

  it('adds a member who was not in the project', () => {
    given(created)
      .when({ type: 'PutMember', data: { member: bob, changedBy: null, now } })
      .then([changed('added', bob, 'customer', null)]);
    expect(stateOf([...created, changed('added', bob, 'customer', null)])).toMatchObject({ members: [alice, bob] });
  });

  it("changes a member's role, recording the previous one", () => {
    given([...created, changed('added', bob, 'customer', null)])
      .when({ type: 'PutMember', data: { member: { ...bob, role: 'admin' }, changedBy: 1, now } })
      .then([changed('role_changed', { ...bob, role: 'admin' }, 'admin', 'customer', 1)]);
  });

  it('putting a member as they already are changes nothing', () => {
    given([...created, changed('added', bob, 'customer', null)])
      .when({ type: 'PutMember', data: { member: bob, changedBy: null, now } })
      .then([]);
  });

  it('removes a member, who is then no longer in the state', () => {
    const added = [...created, changed('added', bob, 'customer', null)];
    given(added)
      .when({ type: 'RemoveMember', data: { userId: 2, changedBy: null, now } })
      .then([changed('removed', bob, null, 'customer')]);
    expect(stateOf([...added, changed('removed', bob, null, 'customer')])).toMatchObject({ members: [alice] });
  });

  it('removing someone who is not a member is not_found, and so is any change to a missing project', () => {
    given(created)
      .when({ type: 'RemoveMember', data: { userId: 2, changedBy: null, now } })
      .thenFails('not_found');
    given([])
      .when({ type: 'PutMember', data: { member: bob, changedBy: null, now } })
      .thenFails('not_found');
    given([])
      .when({ type: 'RemoveMember', data: { userId: 2, changedBy: null, now } })
      .thenFails('not_found');
  });

  it('refuses to remove the last member (last_member: a conflict with the project, not a right the caller lacks)', () => {
    given(created)
      .when({ type: 'RemoveMember', data: { userId: 1, changedBy: null, now } })
      .thenFails('last_member');
  });
});
