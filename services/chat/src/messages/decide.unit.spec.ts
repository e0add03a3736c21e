import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@siteflow/testing/decider';
import { decide, type MarkRead, type PostMessage } from './decide.js';
import { evolve, initialRoomState, unreadOf, type ChatRoomEvent, type ChatRoomState } from './room.js';

const now = new Date('2026-11-24T10:00:00.000Z');
const post = (text: string): PostMessage => ({
  type: 'PostMessage',
  data: {
    messageId: 'm_0195f6a0-0000-7000-8000-000000000001',
    projectId: 1,
    text,
    author: { user_id: 2, username: 'bob', avatar_url: '/avatars/bob.svg' },
    now,
  },
});

const given = deciderSpec({ decide, evolve, initialState: initialRoomState });

describe('chat room decider', () => {
  it('posts a message with the author, the time and trimmed text', () => {
    given([])
      .when(post('  Let us update the timeline  '))
      .then([
        {
          type: 'MessagePosted',
          data: {
            message_id: 'm_0195f6a0-0000-7000-8000-000000000001',
            project_id: 1,
            text: 'Let us update the timeline',
            user_id: 2,
            username: 'bob',
            avatar_url: '/avatars/bob.svg',
            posted_at: '2026-11-24T10:00:00.000Z',
          },
        },
      ]);
  });

  it('refuses an empty or blank message', () => {
    given([]).when(post('   \n ')).thenFails('invalid_payload');
  });

  it('accepts exactly 4000 characters and refuses 4001', () => {
    given([])
      .when(post('x'.repeat(4000)))
      .then([expect.objectContaining({ type: 'MessagePosted' }) as ChatRoomEvent]);
    given([])
      .when(post('x'.repeat(4001)))
      .thenFails('invalid_payload');
  });

  it('counts the room version up with every message', () => {
    const e = decide(post('one'), initialRoomState);
    expect([...e, ...e].reduce(evolve, initialRoomState).version).toBe(2);
  });
});

const posted = (userId: number, at: Date, n = 0): ChatRoomEvent => ({
  type: 'MessagePosted',
  data: {
    message_id: `m_0195f6a0-0000-7000-8000-${String(n).padStart(12, '0')}`,
    project_id: 1,
    text: `message ${n}`,
    user_id: userId,
    username: userId === 2 ? 'bob' : 'alice',
    avatar_url: '',
    posted_at: at.toISOString(),
  },
});
const legacyUnread = (userId: number, count: number): ChatRoomEvent => ({
  type: 'UnreadCountChanged',
  data: { project_id: 1, user_id: userId, count },
});
const members = (...ids: number[]): ChatRoomState => ({
  ...initialRoomState,
  members: ids.map((user_id) => ({ user_id, last_read_version: 0 })),
});
const secondsAgo = (s: number) => new Date(now.getTime() - s * 1000);

describe('chat rate limit: 60 messages per user per project per minute', () => {
  const sixtyIn = (firstSecondsAgo: number) => Array.from({ length: 60 }, (_, i) => posted(2, secondsAgo(firstSecondsAgo - i * 0.5), i));

  it('the 60th message within a minute is accepted', () => {
    given(sixtyIn(40).slice(1))
      .when(post('sixtieth'))
      .then([expect.objectContaining({ type: 'MessagePosted' }) as ChatRoomEvent]);
  });

  it('the 61st is refused with the time until the oldest leaves the window', () => {
    // The oldest of the 60 was 40 s ago: it leaves the window in 20 s.
    given(sixtyIn(40)).when(post('one too many')).thenFails('rate_limited', { retry_after_ms: 20_000 });
  });

  it('posts older than a minute and posts by others do not count', () => {
    given(sixtyIn(90))
      .when(post('fine'))
      .then([expect.objectContaining({ type: 'MessagePosted' }) as ChatRoomEvent]);
    given(Array.from({ length: 60 }, (_, i) => posted(1, secondsAgo(10), i)))
      .when(post('fine'))
      .then([expect.objectContaining({ type: 'MessagePosted' }) as ChatRoomEvent]);
  });
});

describe('chat unread counts', () => {
  it('a message is one event whatever the number of members', () => {
    given([], members(...Array.from({ length: 500 }, (_, i) => i + 1)))
      .when(post('hi'))
      .then([expect.objectContaining({ type: 'MessagePosted' }) as ChatRoomEvent]);
  });

  it('a message gives every other member one more unread, the author none', () => {
    const stream = [posted(1, now, 1), posted(2, now, 2), posted(1, now, 3)];
    expect([1, 2, 3].map((u) => unreadOf(stream, u))).toEqual([1, 2, 3]);
    expect(unreadOf([...stream, ...decide(post('hi'), initialRoomState)], 1)).toBe(2); // bob's post: one more for alice
    expect(unreadOf([...stream, ...decide(post('hi'), initialRoomState)], 2)).toBe(2); // none for bob
  });

  const mark = (version: number): MarkRead => ({
    type: 'MarkRead',
    data: { projectId: 1, userId: 1, messageId: 'm_0195f6a0-0000-7000-8000-000000000009', messageVersion: version, now },
  });
  const marked = (version: number): ChatRoomEvent => ({
    type: 'ReadMarked',
    data: {
      project_id: 1,
      user_id: 1,
      last_read_id: 'm_0195f6a0-0000-7000-8000-000000000009',
      last_read_version: version,
      marked_at: now.toISOString(),
    },
  });

  it('marking read moves the mark forward and the count becomes what is after it', () => {
    given([], members(1, 2))
      .when(mark(7))
      .then([marked(7)]);
    // Messages by bob at versions 1–3, alice marks the second read: one left.
    const stream = [posted(2, now, 1), posted(2, now, 2), posted(2, now, 3)];
    expect(unreadOf(stream, 1)).toBe(3);
    expect(unreadOf([...stream, marked(2)], 1)).toBe(1);
    expect(unreadOf([...stream, marked(2), posted(2, now, 5)], 1)).toBe(2);
  });

  it('a mark at or behind the current one changes nothing (another tab lagging behind)', () => {
    given([marked(7)], members(1, 2))
      .when(mark(7))
      .then([]);
    given([marked(7)], members(1, 2))
      .when(mark(4))
      .then([]);
    const stream = [posted(2, now, 1), posted(2, now, 2), marked(2)];
    expect(unreadOf([...stream, marked(1)], 1)).toBe(0);
  });

  it('older streams hold an UnreadCountChanged per member per post: it counts a version and changes nothing else', () => {
    const before = [posted(2, now, 1)].reduce(evolve, members(1, 2));
    const after = evolve(before, legacyUnread(1, 1));
    expect(after).toEqual({ ...before, version: before.version + 1 });
    expect(unreadOf([posted(2, now, 1), legacyUnread(1, 1), posted(2, now, 3), legacyUnread(1, 2)], 1)).toBe(2);
  });
});
