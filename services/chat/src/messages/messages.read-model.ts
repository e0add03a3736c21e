import { prepared } from '@siteflow/eventstore';
import type { PoolClient, QueryConfig, QueryResult } from 'pg';
import { CHAT_RATE_WINDOW_MS, type ChatMessage } from '@siteflow/contracts';
import type { ChatRoomState, MemberReadState, MessagePosted, ReadMarked } from './room.js';

type Row = {
  message_id: string;
  user_id: string;
  username: string;
  avatar_url: string;
  text: string;
  posted_at: Date;
};

const toMessage = (r: Row): ChatMessage => ({
  id: r.message_id,
  text: r.text,
  user_id: Number(r.user_id),
  username: r.username,
  avatar_url: r.avatar_url,
  timestamp: r.posted_at.toISOString(),
});

/** Members' unread count as it now is (what their `chat:unread` badges say): `count` for each of `user_ids`. */
export type UnreadBadge = { count: number; user_ids: number[] };

/**
 * Projects a posted message (same transaction as the append, under the stream lock) and reads the
 * other members' new unread counts, in one statement. What it writes: the message's row, numbered
 * in the room (`room_seq`) and among its author's posts (`author_seq`), and the author's own-post
 * count (`chat.posters`); nothing per member. What it reads: each other member's read mark and
 * own-post count (two primary-key ranges of the project), to compute
 * `unread = (room_seq − read_seq) − (posts − own_at_mark)` for their badges, grouped by count (in
 * a big room most members share one count, all messages by others: few rows to parse, one payload
 * to encode per count).
 */
export function insertMessage(event: MessagePosted, streamVersion: number): QueryConfig<unknown[]> {
  const d = event.data;
  return prepared(
    `WITH own AS (
       INSERT INTO chat.posters AS p (project_id, user_id, posts) VALUES ($2, $4, 1)
       ON CONFLICT (project_id, user_id) DO UPDATE SET posts = p.posts + 1
       RETURNING posts
     ), msg AS (
       INSERT INTO chat.messages (message_id, project_id, stream_version, user_id, username, avatar_url, text, posted_at, room_seq, author_seq)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8,
              coalesce((SELECT m.room_seq FROM chat.messages m WHERE m.project_id = $2 ORDER BY m.stream_version DESC LIMIT 1), 0) + 1,
              own.posts
         FROM own
       RETURNING room_seq
     )
     SELECT (msg.room_seq - coalesce(r.read_seq, 0)) - (coalesce(p.posts, 0) - coalesce(r.own_at_mark, 0)) AS unread,
            string_agg(mb.user_id::text, ',') AS users
       FROM msg
       CROSS JOIN chat.members mb
       LEFT JOIN chat.read_marks r ON r.project_id = mb.project_id AND r.user_id = mb.user_id
       LEFT JOIN chat.posters p ON p.project_id = mb.project_id AND p.user_id = mb.user_id
      WHERE mb.project_id = $2 AND mb.user_id <> $4
      GROUP BY 1`,
    [d.message_id, d.project_id, streamVersion, d.user_id, d.username, d.avatar_url, d.text, d.posted_at],
  );
}

/** The badges `insertMessage`'s rows hold. */
export function badgesOf(result: QueryResult): UnreadBadge[] {
  return (result.rows as { unread: number; users: string }[]).map((r) => ({ count: r.unread, user_ids: r.users.split(',').map(Number) }));
}

/** A page of messages, oldest first, before a stream version (exclusive), plus whether more exist. */
export async function pageBefore(
  client: PoolClient,
  projectId: number,
  beforeVersion: number | null,
  limit: number,
): Promise<{ messages: ChatMessage[]; has_more: boolean }> {
  const { rows } = await client.query<Row>(
    `SELECT message_id, user_id, username, avatar_url, text, posted_at
       FROM chat.messages
      WHERE project_id = $1 AND ($2::int IS NULL OR stream_version < $2)
      ORDER BY stream_version DESC
      LIMIT $3`,
    [projectId, beforeVersion, limit + 1],
  );
  const has_more = rows.length > limit;
  return { messages: rows.slice(0, limit).reverse().map(toMessage), has_more };
}

export async function versionOfMessage(client: PoolClient, projectId: number, messageId: string): Promise<number | null> {
  const { rows } = await client.query<{ stream_version: number }>(
    'SELECT stream_version FROM chat.messages WHERE project_id = $1 AND message_id = $2',
    [projectId, messageId],
  );
  return rows[0]?.stream_version ?? null;
}

/**
 * The user's unread count: the messages by others after their read mark, from positions (three
 * index probes, whatever the length of the history): the room's messages since the mark less the
 * user's own posts since it. A user with no mark (a member added since, or who never read) counts
 * every message by others.
 */
export async function unreadCount(client: Pick<PoolClient, 'query'>, projectId: number, userId: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    prepared(
      `SELECT (coalesce((SELECT m.room_seq FROM chat.messages m WHERE m.project_id = $1 ORDER BY m.stream_version DESC LIMIT 1), 0)
                - coalesce(r.read_seq, 0))
            - (coalesce((SELECT p.posts FROM chat.posters p WHERE p.project_id = $1 AND p.user_id = $2), 0) - coalesce(r.own_at_mark, 0)) AS n
         FROM (SELECT 1) one
         LEFT JOIN chat.read_marks r ON r.project_id = $1 AND r.user_id = $2`,
      [projectId, userId],
    ),
  );
  return rows[0]?.n ?? 0;
}

/** `unreadCount` of many users of one project in one statement (user id → count). */
export async function unreadCounts(
  client: Pick<PoolClient, 'query'>,
  projectId: number,
  userIds: readonly number[],
): Promise<Map<number, number>> {
  const { rows } = await client.query<{ user_id: string; n: number }>(
    prepared(
      `SELECT u.user_id::text AS user_id,
              (room.n - coalesce(r.read_seq, 0)) - (coalesce(p.posts, 0) - coalesce(r.own_at_mark, 0)) AS n
         FROM unnest($2::bigint[]) AS u(user_id)
        CROSS JOIN (SELECT coalesce((SELECT m.room_seq FROM chat.messages m WHERE m.project_id = $1
                                      ORDER BY m.stream_version DESC LIMIT 1), 0) AS n) room
         LEFT JOIN chat.read_marks r ON r.project_id = $1 AND r.user_id = u.user_id
         LEFT JOIN chat.posters p ON p.project_id = $1 AND p.user_id = u.user_id`,
      [projectId, [...new Set(userIds)]],
    ),
  );
  return new Map(rows.map((r) => [Number(r.user_id), r.n]));
}

/**
 * Saves a read mark (it only moves forward; the decider emits none that does not) positioned in the
 * room: the room ordinal of the message it names and the reader's own posts up to it. Returns the
 * reader's unread count after it, computed in the same statement.
 */
export async function saveReadMark(client: PoolClient, event: ReadMarked): Promise<number> {
  const d = event.data;
  const { rows } = await client.query<{ n: number }>(
    prepared(
      `WITH mark AS (
         INSERT INTO chat.read_marks AS r (project_id, user_id, last_read_version, marked_at, read_seq, own_at_mark)
         VALUES ($1, $2, $3, $4,
                 coalesce((SELECT m.room_seq FROM chat.messages m WHERE m.project_id = $1 AND m.stream_version <= $3
                            ORDER BY m.stream_version DESC LIMIT 1), 0),
                 coalesce((SELECT m.author_seq FROM chat.messages m WHERE m.project_id = $1 AND m.user_id = $2 AND m.stream_version <= $3
                            ORDER BY m.stream_version DESC LIMIT 1), 0))
         ON CONFLICT (project_id, user_id) DO UPDATE
           SET last_read_version = EXCLUDED.last_read_version, marked_at = EXCLUDED.marked_at,
               read_seq = EXCLUDED.read_seq, own_at_mark = EXCLUDED.own_at_mark
         WHERE r.last_read_version < EXCLUDED.last_read_version
         RETURNING read_seq, own_at_mark
       )
       SELECT (coalesce((SELECT m.room_seq FROM chat.messages m WHERE m.project_id = $1 ORDER BY m.stream_version DESC LIMIT 1), 0)
                - mark.read_seq)
            - (coalesce((SELECT p.posts FROM chat.posters p WHERE p.project_id = $1 AND p.user_id = $2), 0) - mark.own_at_mark) AS n
         FROM mark`,
      [d.project_id, d.user_id, d.last_read_version, d.marked_at],
    ),
  );
  // No row: the mark was behind the one stored (not decided so; read the count of record then).
  return rows[0]?.n ?? (await unreadCount(client, d.project_id, d.user_id));
}

/** When the user posted in the project within the rate limit's window (from now), oldest first: rows of `posted_at`. */
export function recentPostTimes(projectId: number, userId: number): QueryConfig<unknown[]> {
  const since = new Date(Date.now() - CHAT_RATE_WINDOW_MS);
  return prepared('SELECT posted_at FROM chat.messages WHERE project_id = $1 AND user_id = $2 AND posted_at > $3 ORDER BY posted_at', [
    projectId,
    userId,
    since,
  ]);
}

/**
 * The room as deciding a post needs it, at the locked stream `version`: the author's posts within
 * the rate window (`recent`: the rows of `recentPostTimes`, read after the lock). Nothing about the
 * other members: a post's cost does not grow with them.
 */
export function roomForPost(version: number, authorId: number, recent: QueryResult): ChatRoomState {
  const times = (recent.rows as { posted_at: Date }[]).map((r) => r.posted_at.toISOString());
  return { version, members: [], recentPosts: { [authorId]: times } };
}

/** The read mark of one user, member row or not. */
export async function readStateOf(client: PoolClient, projectId: number, userId: number): Promise<MemberReadState> {
  const { rows } = await client.query<{ last_read_version: number | null }>(
    prepared('SELECT last_read_version FROM chat.read_marks WHERE project_id = $1 AND user_id = $2', [projectId, userId]),
  );
  return { user_id: userId, last_read_version: rows[0]?.last_read_version ?? 0 };
}
