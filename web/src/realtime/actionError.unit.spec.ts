import { describe, expect, it } from 'vitest';
import { ChannelError } from './channelError.js';
import { currentVersionOf, describeActionError, lockRefusal } from './actionError.js';

describe('action errors', () => {
  it('reads who holds the lock and whether it is another window of mine', () => {
    const other = new ChannelError('locked', 'Document is being edited by bob', { username: 'bob', user_id: 2 });
    expect(lockRefusal(other)).toEqual({ holder: 'bob', sameUser: false });
    const mine = new ChannelError('locked', 'take over to edit here', { username: 'alice', same_user: true });
    expect(lockRefusal(mine)).toEqual({ holder: 'alice', sameUser: true });
    expect(describeActionError('Could not start editing', mine)).toBe(
      'Could not start editing: you are editing this document in another window.',
    );
    expect(lockRefusal(new ChannelError('not_found', 'no such document'))).toBeNull();
  });

  it('reads the current version of a conflict, defensively', () => {
    expect(currentVersionOf(new ChannelError('version_conflict', 'x', { current_version: 7 }))).toBe(7);
    expect(currentVersionOf(new ChannelError('version_conflict', 'x', { current_version: '7' }))).toBeUndefined();
    expect(currentVersionOf(new ChannelError('version_conflict', 'x'))).toBeUndefined();
  });

  it("carries the server's reason and hides anything else", () => {
    expect(describeActionError('Not restored', new ChannelError('not_found', 'version 9 does not exist'))).toBe(
      'Not restored: version 9 does not exist.',
    );
    expect(describeActionError('Not saved', new TypeError('x is undefined'))).toBe('Not saved: something went wrong.');
  });
});
