import { describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import pg, { type PoolClient } from 'pg';
import { createEventStore, type EventStore } from '@siteflow/eventstore';
import { runStreamCommand } from '@siteflow/servicekit';
import { createTestDatabase, useTestPool } from '@siteflow/testing';
import { chatMigrations } from '../migrations.js';
import { readStateOf, recentPostTimes, roomForPost, unreadCount, unreadCounts, type UnreadBadge } from './messages.read-model.js';
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

type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

/** What each count is computed from, as the read models keep it. */
type Positions = {
  messages: { version: number; room_seq: number; author_seq: number }[];
  marks: { user_id: number; read_seq: number; own_at_mark: number }[];
  posters: { user_id: number; posts: number }[];
};

/** The positions folded from the room's events: messages numbered in the room and among their author's, marks placed among them. */
function positionsOf(events: readonly ChatRoomEvent[]): Positions {
  const messages: Positions['messages'] = [];
  const authors = new Map<number, number[]>();
  for (const [i, e] of events.entries()) {
    if (e.type !== 'MessagePosted') continue;
    const own = authors.get(e.data.user_id) ?? [];
    own.push(i + 1);
    authors.set(e.data.user_id, own);
    messages.push({ version: i + 1, room_seq: messages.length + 1, author_seq: own.length });
  }
  const marked = new Map<number, number>();
  for (const e of events)
    if (e.type === 'ReadMarked') marked.set(e.data.user_id, Math.max(marked.get(e.data.user_id) ?? 0, e.data.last_read_version));
  const marks = [...marked].map(([u, version]) => ({
    user_id: u,
    read_seq: messages.filter((m) => m.version <= version).length,
    own_at_mark: (authors.get(u) ?? []).filter((v) => v <= version).length,
  }));
  const posters = [...authors].map(([u, own]) => ({ user_id: u, posts: own.length }));
  const byUser = (a: { user_id: number }, b: { user_id: number }) => a.user_id - b.user_id;
  return { messages, marks: marks.sort(byUser), posters: posters.sort(byUser) };
}

async function positionsIn(client: PoolClient, projectId: number): Promise<Positions> {
  const q = async <R extends object>(sql: string) => (await client.query<R>(sql, [projectId])).rows;
  return {
    messages: await q(
      'SELECT stream_version AS version, room_seq, author_seq FROM chat.messages WHERE project_id = $1 ORDER BY stream_version',
    ),
    marks: await q('SELECT user_id::int, read_seq, own_at_mark FROM chat.read_marks WHERE project_id = $1 ORDER BY user_id'),
    posters: await q('SELECT user_id::int, posts FROM chat.posters WHERE project_id = $1 ORDER BY user_id'),
  };
}

/**
 * Runs steps on room `p` through the pipeline, checking every count a command announces or replies
 * against the fold; then every user's count as the snapshot reads it, the positions kept and the
 * decision state loaded from the read models.
 */
async function runAndCheck(
  pool: pg.Pool,
  store: EventStore,
  room: { p: number; members: Set<number>; posted: string[] },
  steps: readonly Step[],
): Promise<void> {
  const { p, members, posted } = room;
  const addMember = (u: number) =>
    pool.query(`INSERT INTO chat.members (project_id, user_id, username, role) VALUES ($1, $2, $3, 'customer') ON CONFLICT DO NOTHING`, [
      p,
      u,
      `u${u}`,
    ]);
  const stream = async () => (await store.readStream(chatStreamId(p))).map((e) => ({ type: e.type, data: e.data }) as ChatRoomEvent);

  for (const s of steps) {
    const badges: UnreadBadge[] = [];
    if (s.type === 'post') {
      const messageId = `m_00000000-0000-4000-8000-${String(p * 1000 + posted.length).padStart(12, '0')}`;
      const author = { user_id: s.user, username: `u${s.user}`, avatar_url: '' };
      await runStreamCommand(store, postCommand({ projectId: p, messageId, text: `message ${posted.length}`, author }, badges));
      posted.push(messageId);
      // Every member but the author is told their new count, and it is the folded one.
      const events = await stream();
      const expected = [...members].filter((u) => u !== s.user).map((u) => ({ user_id: u, count: unreadOf(events, u) }));
      const announced = badges.flatMap((b) => b.user_ids.map((u) => ({ user_id: u, count: b.count })));
      expect(announced.sort((a, b) => a.user_id - b.user_id)).toEqual(expected.sort((a, b) => a.user_id - b.user_id));
      // Grouped by count: one payload per count.
      expect(new Set(badges.map((b) => b.count)).size).toBe(badges.length);
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
      for (const b of badges) expect(b).toEqual({ count: after, user_ids: [s.user] });
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
      const loaded = roomForPost(folded.version, u, await client.query(recentPostTimes(p, u)));
      expect(loaded).toEqual({ version: folded.version, members: [], recentPosts: { [u]: folded.recentPosts[u] ?? [] } });
    }
    // Many users' counts in one statement (a gateway's sharing joins, OwnUnreadReads): the same folds.
    expect(Object.fromEntries(await unreadCounts(client, p, users))).toEqual(
      Object.fromEntries(users.map((u) => [u, unreadOf(events, u)])),
    );
    // Every position kept is the folded one: what each count is computed from.
    expect(await positionsIn(client, p)).toEqual(positionsOf(events));
  } finally {
    client.release();
  }
}

async function addMembers(pool: pg.Pool, p: number, members: Iterable<number>): Promise<void> {
  for (const u of members)
    await pool.query(
      `INSERT INTO chat.members (project_id, user_id, username, role) VALUES ($1, $2, $3, 'customer') ON CONFLICT DO NOTHING`,
      [p, u, `u${u}`],
    );
}

/**
 * A post's cost does not grow with the members: it writes nothing per member (each count is
 * computed from positions: the room's messages and the user's own posts, now and at their read
 * mark) and not an event per member per post. Every count must still be what the events say: after
 * any sequence of posts, read marks and membership changes run through the pipeline, every user's
 * count as the snapshot reads it, every position kept, and the counts a command announced are the
 * messages by others after the user's read mark, folded from the stream (`unreadOf`); and the
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
        const p = ++projectId;
        await addMembers(pool, p, initialMembers);
        await runAndCheck(pool, store, { p, members: new Set(initialMembers), posted: [] }, steps);
      }),
      { numRuns: 40 },
    );
  });
});

/**
 * What chat did between migrations 4 and 5 (a counter per member in chat.unread, moved for everyone
 * on each post), for rooms to run on before migrating: the statements of that version, verbatim.
 */
async function postAsOfMigration4(pool: pg.Pool, store: EventStore, p: number, author: number, messageId: string): Promise<void> {
  await store.transaction(async (tx) => {
    const data = {
      message_id: messageId,
      project_id: p,
      text: 'hi',
      user_id: author,
      username: `u${author}`,
      avatar_url: '',
      posted_at: new Date().toISOString(),
    };
    const { recorded } = await tx.append(chatStreamId(p), [{ type: 'MessagePosted', data, projectId: p }], { expectedVersion: 'any' });
    await tx.client.query(
      `INSERT INTO chat.messages (message_id, project_id, stream_version, user_id, username, avatar_url, text, posted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [messageId, p, recorded[0]?.version, author, data.username, '', data.text, data.posted_at],
    );
    await tx.client.query(
      `WITH bumped AS (
         UPDATE chat.unread SET unread = unread + 1
          WHERE project_id = $1 AND user_id <> $2
         RETURNING user_id, unread
       ), added AS (
         INSERT INTO chat.unread (project_id, user_id, unread)
         SELECT mb.project_id, mb.user_id,
                (SELECT count(*)::int FROM chat.messages m
                  WHERE m.project_id = mb.project_id AND m.user_id <> mb.user_id
                    AND m.stream_version > coalesce(
                      (SELECT r.last_read_version FROM chat.read_marks r WHERE r.project_id = mb.project_id AND r.user_id = mb.user_id), 0))
           FROM chat.members mb
          WHERE mb.project_id = $1 AND mb.user_id <> $2
            AND NOT EXISTS (SELECT 1 FROM chat.unread u WHERE u.project_id = mb.project_id AND u.user_id = mb.user_id)
         RETURNING user_id, unread
       )
       SELECT 1 FROM bumped UNION ALL SELECT 1 FROM added`,
      [p, author],
    );
  });
}

async function markAsOfMigration4(pool: pg.Pool, store: EventStore, p: number, reader: number, version: number): Promise<void> {
  await store.transaction(async (tx) => {
    const mark = await tx.client.query<{ v: number }>(
      'SELECT last_read_version AS v FROM chat.read_marks WHERE project_id = $1 AND user_id = $2',
      [p, reader],
    );
    if ((mark.rows[0]?.v ?? 0) >= version) return;
    const data = { project_id: p, user_id: reader, last_read_id: 'm', last_read_version: version, marked_at: new Date().toISOString() };
    await tx.append(chatStreamId(p), [{ type: 'ReadMarked', data, projectId: null, userId: reader }], { expectedVersion: 'any' });
    await tx.client.query(
      `INSERT INTO chat.read_marks (project_id, user_id, last_read_version, marked_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project_id, user_id) DO UPDATE SET last_read_version = EXCLUDED.last_read_version, marked_at = EXCLUDED.marked_at
       WHERE chat.read_marks.last_read_version < EXCLUDED.last_read_version`,
      [p, reader, version, data.marked_at],
    );
    await tx.client.query(
      `INSERT INTO chat.unread (project_id, user_id, unread)
       VALUES ($1, $2, (SELECT count(*)::int FROM chat.messages WHERE project_id = $1 AND user_id <> $2 AND stream_version > $3))
       ON CONFLICT (project_id, user_id) DO UPDATE SET unread = EXCLUDED.unread`,
      [p, reader, version],
    );
  });
}

describe('chat: the unread migrations', () => {
  it('migration 5 keeps every count (counters, members added since), and the rooms go on from there', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(users, { minLength: 1 }),
        fc.array(step, { maxLength: 20 }),
        fc.array(step, { maxLength: 8 }),
        async (initialMembers, before, after) => {
          run++;
          const database = await createTestDatabase(inject('databaseUrl'));
          const pool = new pg.Pool({ connectionString: database.url, max: 2 });
          try {
            const store = createEventStore({ pool, schema: 'chat' });
            await store.migrate(chatMigrations.filter((m) => m.id < 5));
            const p = run;
            const members = new Set(initialMembers);
            await addMembers(pool, p, members);
            const posted: { id: string; version: number }[] = [];
            for (const s of before) {
              if (s.type === 'post') {
                const id = `m_00000000-0000-4000-8000-${String(p * 1000 + posted.length).padStart(12, '0')}`;
                await postAsOfMigration4(pool, store, p, s.user, id);
                posted.push({ id, version: await store.streamVersion(chatStreamId(p)) });
              } else if (s.type === 'mark') {
                const at = posted[posted.length - 1 - s.back];
                if (at) await markAsOfMigration4(pool, store, p, s.user, at.version);
              } else if (s.type === 'join') {
                members.add(s.user);
                await addMembers(pool, p, [s.user]);
              } else {
                members.delete(s.user);
                await pool.query('DELETE FROM chat.members WHERE project_id = $1 AND user_id = $2', [p, s.user]);
              }
            }
            const counters = new Map(
              (
                await pool.query<{ user_id: number; unread: number }>(
                  'SELECT user_id::int, unread FROM chat.unread WHERE project_id = $1',
                  [p],
                )
              ).rows.map((r) => [r.user_id, r.unread]),
            );

            await store.migrate(chatMigrations);
            const events = (await store.readStream(chatStreamId(p))).map((e) => ({ type: e.type, data: e.data }) as ChatRoomEvent);
            const client = await pool.connect();
            try {
              for (const u of users) {
                const unread = await unreadCount(client, p, u);
                // What the counter said, for those who had one; the fold for everyone (members added since included).
                if (counters.has(u)) expect({ user: u, unread }).toEqual({ user: u, unread: counters.get(u) });
                expect({ user: u, unread }).toEqual({ user: u, unread: unreadOf(events, u) });
              }
              expect(await positionsIn(client, p)).toEqual(positionsOf(events));
            } finally {
              client.release();
            }
            await runAndCheck(pool, store, { p, members, posted: posted.map((m) => m.id) }, after);
          } finally {
            await pool.end();
            await database.drop();
          }
        },
      ),
      { numRuns: 15 },
    );
    // 15 databases created, migrated twice and dropped: on a loaded machine (CI beside other
    // suites, load 20 on 2 cores) that took over the default 60 s; a time bound here says nothing.
  }, 240_000);

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

      await store.migrate(chatMigrations.filter((m) => m.id < 5));
      const { rows } = await pool.query<{ user_id: number; unread: number }>(
        'SELECT user_id::int, unread FROM chat.unread WHERE project_id = 1 ORDER BY user_id',
      );
      expect(rows).toEqual([
        { user_id: 1, unread: 2 },
        { user_id: 2, unread: 1 },
        { user_id: 3, unread: 3 },
        { user_id: 9, unread: 3 },
      ]);

      // 4 joins after migration 4 (no counter); migration 5: the same counts, and 4's every message by others.
      await pool.query(`INSERT INTO chat.members (project_id, user_id, username, role) VALUES (1, 4, 'u4', 'customer')`);
      await store.migrate(chatMigrations);
      const client = await pool.connect();
      try {
        const counts = [];
        for (const u of [1, 2, 3, 4, 9]) counts.push({ user_id: u, unread: await unreadCount(client, 1, u) });
        expect(counts).toEqual([
          { user_id: 1, unread: 2 },
          { user_id: 2, unread: 1 },
          { user_id: 3, unread: 3 },
          { user_id: 4, unread: 4 },
          { user_id: 9, unread: 3 },
        ]);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
