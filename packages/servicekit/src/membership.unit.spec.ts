import { describe, expect, it } from 'vitest';
import type { Pool } from 'pg';
import type { CommandContext } from '@siteflow/contracts';
import { projectMembership } from './membership.js';

const ctx: CommandContext = {
  user_id: 503,
  username: 'fay',
  role: 'customer',
  avatar_url: '/avatars/fay.svg',
  connection_id: 'c-1',
  project_id: 7100,
};

/** A members table that knows project 7100 but not fay (her addition is not here yet). */
function poolWithoutFay(): Pool {
  return {
    query: (q: { text: string }) => Promise.resolve({ rows: q.text.includes('EXISTS') ? [{ known: true }] : [] }),
  } as unknown as Pool;
}

describe('projectMembership', () => {
  it('asks the owner of the projects about a caller this copy does not know, once nothing is pending', async () => {
    const asked: CommandContext[] = [];
    const members = projectMembership(
      poolWithoutFay(),
      { table: 'chat.members', waitForUnknownProjectMs: 50 },
      () => Promise.resolve(false),
      (c) => {
        asked.push(c);
        return Promise.resolve('admin');
      },
    );
    await expect(members.require(ctx)).resolves.toMatchObject({ user_id: 503, role: 'admin' });
    expect(asked).toHaveLength(1);
  });

  it('refuses when the owner says no, or cannot be asked', async () => {
    const no = projectMembership(
      poolWithoutFay(),
      { table: 'chat.members', waitForUnknownProjectMs: 50 },
      () => Promise.resolve(false),
      () => Promise.resolve(null),
    );
    await expect(no.require(ctx)).rejects.toMatchObject({ code: 'unauthorized' });
    const down = projectMembership(
      poolWithoutFay(),
      { table: 'chat.members', waitForUnknownProjectMs: 50 },
      () => Promise.resolve(false),
      () => Promise.reject(new Error('no responders')),
    );
    await expect(down.require(ctx)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
