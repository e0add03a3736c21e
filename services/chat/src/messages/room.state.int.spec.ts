import { describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import { createEventStore } from '@siteflow/eventstore';
import { runStreamCommand } from '@siteflow/servicekit';
import { createTestDatabase, useTestPool } from '@siteflow/testing';
import { chatMigrations } from '../migrations.js';
import { loadRoomForPost, readStateOf, unreadCount, type UnreadBadge } from './messages.read-model.js';
import { chatStreamId, evolve, initialRoomState, unreadOf, type ChatRoomEvent } from './room.js';
import { markReadCommand, postCommand } from './room-stream.js';

const users = [1, 2, 3, 4];
const user = fc.constantFrom(...users);
/** What happens to a room: posts, read marks (at the n-th message posted so far, from the end), members coming and going. */
const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('post' as const), user }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('mark' as const), user, back: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('join' as const), user }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('leave' as const), user }) },
);

/**
 * A post's cost no longer reads the other members: each member's unread count is a read model
 * (`chat.unread`, a counter) and not an event per member per post. It must still be what the events
 * say: after any sequence of posts, read marks and membership changes run through the pipeline, every
 * user's count as the snapshot reads it, every counter kept, and the counts a command announced are
 * the messages by others after the user's read mark, folded from the stream (`unreadOf`); and the
 * decision state loaded from the read models is the one folded from the events.
 */
describe('chat: the read models are what folding the room events gives', () => {
  const db = useTestPool(async (pool) => {
    const store = createEventStore({ pool, schema: 'chat' });
    await store.migrate(chatMigrations);
    return { store };
  });

  it('for generated sequences of posts, read marks and membership changes', async () => {
    const { pool, store } = db();
    let projectId = 0;
    await fc.assert(
      fc.asyncProperty(fc.subarray(users, { minLength: 1 }), fc.array(step, { maxLength: 24 }), async (initialMembers, steps) => {
        projectId++;
        const p = projectId;
        const members = new Set(initialMembers);
        const addMember = (u: number) =>
          pool.query(
            `INSERT INTO chat.members (project_id, user_id, username, role) VALUES ($1, $2, $3, 'customer') ON CONFLICT DO NOTHING`,
            [p, u, `u${u}`],
          );
        for (const u of members) await addMember(u);
        const posted: string[] = [];
        const stream = async () => (await store.readStream(chatStreamId(p))).map((e) => ({ type: e.type, data: e.data }) as ChatRoomEvent);

        for (const [i, s] of steps.entries()) {
          const badges: UnreadBadge[] = [];
          if (s.type === 'post') {
            const messageId = `m_00000000-0000-4000-8000-${String(p * 1000 + i).padStart(12, '0')}`;
            const author = { user_id: s.user, username: `u${s.user}`, avatar_url: '' };
            await runStreamCommand(store, postCommand({ projectId: p, messageId, text: `message ${i}`, author }, badges));
            posted.push(messageId);
            // Every member but the author is told their new count, and it is the folded one.
            const events = await stream();
            const expected = [...members].filter((u) => u !== s.user).map((u) => ({ user_id: u, count: unreadOf(events, u) }));
            expect(badges.sort((a, b) => a.user_id - b.user_id)).toEqual(expected.sort((a, b) => a.user_id - b.user_id));
          } else if (s.type === 'mark') {
            const lastReadId = posted[posted.length - 1 - s.back];
            if (lastReadId === undefined) continue;
            const read = { before: 0 };
            const before = unreadOf(await stream(), s.user);
            const reply = await runStreamCommand(store, markReadCommand({ projectId: p, userId: s.user, lastReadId }, badges, read));
            const after = unreadOf(await stream(), s.user);
            expect(read.before).toBe(before);
            expect(reply).toEqual({ unread_count: after });
            // A mark that moved is announced with the reader's new count (the caller drops it when the count did not change).
            for (const b of badges) expect(b).toEqual({ user_id: s.user, count: after });
          } else if (s.type === 'join') {
            members.add(s.user);
            await addMember(s.user);
          } else {
            members.delete(s.user);
            await pool.query('DELETE FROM chat.members WHERE project_id = $1 AND user_id = $2', [p, s.user]);
          }
        }

        const events = await stream();
        const folded = events.reduce(evolve, initialRoomState);
        const client = await pool.connect();
        try {
          for (const u of users) {
            expect({ user: u, unread: await unreadCount(client, p, u) }).toEqual({ user: u, unread: unreadOf(events, u) });
            const mark = folded.members.find((m) => m.user_id === u)?.last_read_version ?? 0;
            expect(await readStateOf(client, p, u)).toEqual({ user_id: u, last_read_version: mark });
            const room = await loadRoomForPost(client, p, folded.version, u);
            expect(room).toEqual({ version: folded.version, members: [], recentPosts: { [u]: folded.recentPosts[u] ?? [] } });
          }
          // Every counter kept (members past and present, readers) is the folded count.
          const { rows } = await client.query<{ user_id: string; unread: number }>(
            'SELECT user_id, unread FROM chat.unread WHERE project_id = $1',
            [p],
          );
          for (const r of rows)
            expect({ user: Number(r.user_id), unread: r.unread }).toEqual({
              user: Number(r.user_id),
              unread: unreadOf(events, Number(r.user_id)),
            });
        } finally {
          client.release();
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('chat: the unread counter migration', () => {
  it('gives existing members and readers the counts they had (messages by others after their read mark)', async () => {
    const database = await createTestDatabase(inject('databaseUrl'));
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    try {
      const store = createEventStore({ pool, schema: 'chat' });
      await store.migrate(chatMigrations.filter((m) => m.id < 4));
      // Project 1: members 1, 2, 3; messages by 1, 2, 1, 3 at versions 1–4 (read models as they were).
      for (const u of [1, 2, 3])
        await pool.query(`INSERT INTO chat.members (project_id, user_id, username, role) VALUES (1, $1, $2, 'customer')`, [u, `u${u}`]);
      for (const [i, u] of [1, 2, 1, 3].entries())
        await pool.query(
          `INSERT INTO chat.messages (message_id, project_id, stream_version, user_id, username, avatar_url, text, posted_at)
           VALUES ($1, 1, $2, $3, $4, '', 'hi', now())`,
          [`m_00000000-0000-4000-8000-00000000000${i}`, i + 1, u, `u${u}`],
        );
      // 2 read up to version 3; 9 (no longer a member) up to version 1.
      await pool.query(
        `INSERT INTO chat.read_marks (project_id, user_id, last_read_version, marked_at) VALUES (1, 2, 3, now()), (1, 9, 1, now())`,
      );

      await store.migrate(chatMigrations);
      const { rows } = await pool.query<{ user_id: number; unread: number }>(
        'SELECT user_id::int, unread FROM chat.unread WHERE project_id = 1 ORDER BY user_id',
      );
      expect(rows).toEqual([
        { user_id: 1, unread: 2 },
        { user_id: 2, unread: 1 },
        { user_id: 3, unread: 3 },
        { user_id: 9, unread: 3 },
      ]);
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
