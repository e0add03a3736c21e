import { bench, describe } from 'vitest';
import type { RoomSnapshot } from '@siteflow/contracts';
import { withOwnUnread } from '../rooms/snapshot.js';
import { encodeFrame } from './frames.js';
import { encodeJoinReply } from './join-reply.js';

/**
 * The replies of the joins that share one snapshot read (25: a room of the join storm coming back
 * together), serialised whole per joiner as before, and with the read serialised once
 * (encodeJoinReply). `npx vitest bench --project unit services/gateway/src/protocol/join-reply.bench.ts`.
 */
const SHARERS = 25;
const at = '2026-12-03T07:00:00.000Z';
const room = (messages: number) =>
  ({
    project: {
      id: 7,
      name: 'Webshop',
      status: 'planning',
      created_at: at,
      updated_at: at,
      members: Array.from({ length: SHARERS }, (_, i) => ({
        user_id: i + 1,
        username: `user${i + 1}`,
        role: 'customer',
        avatar_url: `/avatars/${i + 1}.svg`,
      })),
    },
    documents: Array.from({ length: 9 }, (_, i) => ({
      id: `00000000-0000-4000-8000-00000000000${i}`,
      project_id: 7,
      document_type: 'scope',
      title: `Document ${i}`,
      version: 3,
      created_by: 1,
      last_edited_by: 2,
      created_at: at,
      updated_at: at,
      lock: null,
    })),
    checklist: {
      items: Array.from({ length: 12 }, (_, i) => ({
        item_id: `i${i}`,
        title: `Item ${i}`,
        description: 'what to check',
        order_index: i,
        checked: false,
        checked_by: null,
        checked_at: null,
      })),
      progress: { total_items: 12, completed_items: 0, percentage: 0 },
    },
    chat: {
      messages: Array.from({ length: messages }, (_, i) => ({
        message_id: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}`,
        user_id: 3,
        username: 'carol',
        avatar_url: '/avatars/3.svg',
        text: 'A chat message of an ordinary length, about the planning of the project. '.repeat(2),
        posted_at: at,
      })),
      has_more: false,
      unread_count: 0,
    },
    members_last_seen: [],
  }) as unknown as RoomSnapshot;

for (const messages of [0, 50]) {
  describe(`${SHARERS} replies from one read, ${messages} chat messages in the room`, () => {
    bench('serialised whole per joiner', () => {
      const snapshot = room(messages);
      for (let i = 0; i < SHARERS; i++)
        encodeFrame(['1', `${i}`, 'project:7', 'phx_reply', { status: 'ok', response: withOwnUnread(snapshot, i) }]);
    });
    bench('serialised once per read (encodeJoinReply)', () => {
      const snapshot = room(messages);
      for (let i = 0; i < SHARERS; i++) encodeJoinReply('1', `${i}`, 'project:7', snapshot, i);
    });
  });
}
