import type { Pool } from 'pg';
import { CHAT_TYPING_TTL_MS } from '@siteflow/contracts';

export type TypingState = { project_id: number; user_id: number; username: string; connection_id: string };

type Row = { project_id: string; user_id: string; username: string; connection_id: string };
const toState = (r: Row): TypingState => ({
  project_id: Number(r.project_id),
  user_id: Number(r.user_id),
  username: r.username,
  connection_id: r.connection_id,
});

/** Starts or renews a typing state; expiry uses the database clock, the one clock all instances share. */
export async function renewTyping(pool: Pool, s: TypingState): Promise<void> {
  await pool.query(
    `INSERT INTO chat.typing (project_id, user_id, username, connection_id, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000))
     ON CONFLICT (project_id, user_id) DO UPDATE SET
       username = EXCLUDED.username, connection_id = EXCLUDED.connection_id, expires_at = EXCLUDED.expires_at`,
    [s.project_id, s.user_id, s.username, s.connection_id, CHAT_TYPING_TTL_MS],
  );
}

/** Ends a typing state; returns it when there was one (so only one caller announces the end). */
export async function endTyping(pool: Pool, projectId: number, userId: number): Promise<TypingState | null> {
  const { rows } = await pool.query<Row>(
    'DELETE FROM chat.typing WHERE project_id = $1 AND user_id = $2 RETURNING project_id, user_id, username, connection_id',
    [projectId, userId],
  );
  return rows[0] ? toState(rows[0]) : null;
}

/** Removes every typing state not renewed in time; each is returned to exactly one sweeping instance. */
export async function sweepExpiredTyping(pool: Pool): Promise<TypingState[]> {
  const { rows } = await pool.query<Row>(
    'DELETE FROM chat.typing WHERE expires_at <= now() RETURNING project_id, user_id, username, connection_id',
  );
  return rows.map(toState);
}

/** Ends whatever a closed connection was typing. */
export async function endTypingOfConnection(pool: Pool, connectionId: string): Promise<TypingState[]> {
  const { rows } = await pool.query<Row>(
    'DELETE FROM chat.typing WHERE connection_id = $1 RETURNING project_id, user_id, username, connection_id',
    [connectionId],
  );
  return rows.map(toState);
}
