import { describe, expect, it } from 'vitest';
import { memberName } from './members.js';

const members = [
  { user_id: 1, username: 'alice' },
  { user_id: 2, username: 'bob' },
];

describe('members by id', () => {
  it('names a member, and nobody for an unknown or missing id', () => {
    expect(memberName(members, 2)).toBe('bob');
    expect(memberName(members, 9)).toBeNull();
    expect(memberName(members, null)).toBeNull();
    expect(memberName(undefined, 1)).toBeNull();
  });
});
