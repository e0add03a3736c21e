import { prepared } from '@siteflow/eventstore';
import type { PoolClient } from 'pg';
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

/** Projects a posted message into `chat.messages` (same transaction as the append). */
export async function insertMessage(client: PoolClient, event: MessagePosted, streamVersion: number): Promise<void> {
  const d = event.data;
  await client.query(
    prepared(
      `INSERT INTO chat.messages (message_id, project_id, stream_version, user_id, username, avatar_url, text, posted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [d.message_id, d.project_id, streamVersion, d.user_id, d.username, d.avatar_url, d.text, d.posted_at],
    ),
  );
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
 * The user's unread count: messages by others after their read mark. Kept in `chat.unread`; a user
 * with no counter there yet (a member added since the last post, who never marked read) is counted.
 */
export async function unreadCount(client: PoolClient, projectId: number, userId: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    prepared(
      `SELECT coalesce(
                (SELECT unread FROM chat.unread WHERE project_id = $1 AND user_id = $2),
                (SELECT count(*)::int
                   FROM chat.messages m
                  WHERE m.project_id = $1 AND m.user_id <> $2
                    AND m.stream_version > coalesce((SELECT last_read_version FROM chat.read_marks WHERE project_id = $1 AND user_id = $2), 0))
              ) AS n`,
      [projectId, userId],
    ),
  );
  return rows[0]?.n ?? 0;
}

/** A member's unread count as it now is (what their `chat:unread` badge says). */
export type UnreadBadge = { user_id: number; count: number };

/**
 * A post's effect on the unread counts, in its transaction after the message's row: one more for
 * everyone in the project but the author (one UPDATE, no counting), and a first counter for members
 * who have none yet (added since: counted once, this post included). Returns the new counts of the
 * project's members, for their badges.
 */
export async function countPostAsUnread(client: PoolClient, projectId: number, authorId: number): Promise<UnreadBadge[]> {
  const { rows } = await client.query<{ user_id: string; unread: number }>(
    prepared(
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
       SELECT c.user_id, c.unread
         FROM (SELECT user_id, unread FROM bumped UNION ALL SELECT user_id, unread FROM added) c
         JOIN chat.members mb ON mb.project_id = $1 AND mb.user_id = c.user_id`,
      [projectId, authorId],
    ),
  );
  return rows.map((r) => ({ user_id: Number(r.user_id), count: r.unread }));
}

/** A read mark's effect: the reader's count becomes the messages by others after the mark. Returns it. */
export async function countUnreadAfterMark(client: PoolClient, event: ReadMarked): Promise<number> {
  const d = event.data;
  const { rows } = await client.query<{ unread: number }>(
    prepared(
      `INSERT INTO chat.unread (project_id, user_id, unread)
       VALUES ($1, $2, (SELECT count(*)::int FROM chat.messages WHERE project_id = $1 AND user_id <> $2 AND stream_version > $3))
       ON CONFLICT (project_id, user_id) DO UPDATE SET unread = EXCLUDED.unread
       RETURNING unread`,
      [d.project_id, d.user_id, d.last_read_version],
    ),
  );
  return rows[0]?.unread ?? 0;
}

/** When the user posted in the project since `since`, oldest first (the rate limit's window). */
export async function recentPostTimes(client: PoolClient, projectId: number, userId: number, since: Date): Promise<string[]> {
  const { rows } = await client.query<{ posted_at: Date }>(
    prepared('SELECT posted_at FROM chat.messages WHERE project_id = $1 AND user_id = $2 AND posted_at > $3 ORDER BY posted_at', [
      projectId,
      userId,
      since,
    ]),
  );
  return rows.map((r) => r.posted_at.toISOString());
}

/**
 * The room as deciding a post needs it, at the locked stream `version`: the author's posts within
 * the rate window. Nothing about the other members: a post's cost does not grow with them.
 */
export async function loadRoomForPost(client: PoolClient, projectId: number, version: number, authorId: number): Promise<ChatRoomState> {
  const since = new Date(Date.now() - CHAT_RATE_WINDOW_MS);
  return { version, members: [], recentPosts: { [authorId]: await recentPostTimes(client, projectId, authorId, since) } };
}

/** The read mark of one user, member row or not. */
export async function readStateOf(client: PoolClient, projectId: number, userId: number): Promise<MemberReadState> {
  const { rows } = await client.query<{ last_read_version: number | null }>(
    prepared('SELECT last_read_version FROM chat.read_marks WHERE project_id = $1 AND user_id = $2', [projectId, userId]),
  );
  return { user_id: userId, last_read_version: rows[0]?.last_read_version ?? 0 };
}

export async function saveReadMark(client: PoolClient, event: ReadMarked): Promise<void> {
  const d = event.data;
  await client.query(
    prepared(
      `INSERT INTO chat.read_marks (project_id, user_id, last_read_version, marked_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project_id, user_id) DO UPDATE SET last_read_version = EXCLUDED.last_read_version, marked_at = EXCLUDED.marked_at
       WHERE chat.read_marks.last_read_version < EXCLUDED.last_read_version`,
      [d.project_id, d.user_id, d.last_read_version, d.marked_at],
    ),
  );
}
