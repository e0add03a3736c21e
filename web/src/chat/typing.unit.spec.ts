import { CHAT_TYPING_TTL_MS } from '@siteflow/contracts/constants';
import { describe, expect, it } from 'vitest';
import { dropTypist, pruneTypists, receiveTyping, typingRenewDue, typingText, type Typist } from './typing.js';

const typing = (user_id: number, username: string, on = true) => ({ user_id, username, typing: on });

describe('typing indicator', () => {
  it('shows others typing, not me, and drops who stopped', () => {
    let list: readonly Typist[] = [];
    list = receiveTyping(list, typing(2, 'bob'), 1, 0);
    list = receiveTyping(list, typing(1, 'alice'), 1, 0);
    list = receiveTyping(list, typing(3, 'carol'), 1, 0);
    expect(typingText(list)).toBe('bob and carol are typing…');
    list = receiveTyping(list, typing(2, 'bob', false), 1, 10);
    expect(typingText(list)).toBe('carol is typing…');
  });

  it('ends a typing state that is not renewed within the TTL', () => {
    const list = receiveTyping([], typing(2, 'bob'), 1, 1_000);
    expect(pruneTypists(list, 1_000 + CHAT_TYPING_TTL_MS - 1)).toBe(list);
    expect(pruneTypists(list, 1_000 + CHAT_TYPING_TTL_MS)).toEqual([]);
    // A renewal moves the end.
    const renewed = receiveTyping(list, typing(2, 'bob'), 1, 4_000);
    expect(pruneTypists(renewed, 1_000 + CHAT_TYPING_TTL_MS)).toHaveLength(1);
  });

  it('counts a crowd and renews inside the TTL', () => {
    const crowd = [2, 3, 4].reduce<readonly Typist[]>((l, id) => receiveTyping(l, typing(id, `u${id}`), 1, 0), []);
    expect(typingText(crowd)).toBe('3 people are typing…');
    expect(typingText([])).toBe('');
    expect(typingRenewDue(null, 0)).toBe(true);
    expect(typingRenewDue(0, 1_000)).toBe(false);
    expect(typingRenewDue(0, 3_000)).toBe(true);
  });
});

describe('a message from a typist', () => {
  it('ends their typing and keeps the list when they were not typing', () => {
    const list = [2, 3].reduce<readonly Typist[]>((l, id) => receiveTyping(l, typing(id, `u${id}`), 1, 0), []);
    expect(dropTypist(list, 2).map((t) => t.user_id)).toEqual([3]);
    expect(dropTypist(list, 4)).toBe(list);
  });
});
