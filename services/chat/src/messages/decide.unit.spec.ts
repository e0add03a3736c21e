import { describe, expect, it } from 'vitest';
import { AppError } from '@siteflow/contracts';
import { decide, type PostMessage } from './decide.js';
import { evolve, initialRoomState, type ChatRoomEvent } from './room.js';

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

function given(events: ChatRoomEvent[]) {
  const state = events.reduce(evolve, initialRoomState);
  return {
    when: (command: PostMessage) => ({
      then: (expected: ChatRoomEvent[]) => expect(decide(command, state)).toEqual(expected),
      thenFails: (code: string) => {
        try {
          decide(command, state);
          expect.unreachable('decide should have refused the command');
        } catch (e) {
          expect(e).toBeInstanceOf(AppError);
          expect((e as AppError).code).toBe(code);
        }
      },
    }),
  };
}

describe('chat room decider', () => {
  it('posts a message with the author, the time and trimmed text', () => {
    given([]).when(post('  Let us update the timeline  ')).then([
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
    given([]).when(post('x'.repeat(4000))).then([expect.objectContaining({ type: 'MessagePosted' })]);
    given([]).when(post('x'.repeat(4001))).thenFails('invalid_payload');
  });

  it('counts the room version up with every message', () => {
    const e = decide(post('one'), initialRoomState);
    expect([...e, ...e].reduce(evolve, initialRoomState).version).toBe(2);
  });
});
