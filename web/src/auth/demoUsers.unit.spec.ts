import { describe, expect, it } from 'vitest';
import { demoUsers } from './demoUsers.js';

describe('demoUsers', () => {
  it('are the users dev login knows', async () => {
    const { DEMO_USERS } = await import('@siteflow/contracts');
    expect(demoUsers).toEqual(DEMO_USERS.map(({ id, username, role }) => ({ id, username, role })));
  });
});
