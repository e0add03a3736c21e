import type { PoolClient } from 'pg';
import type { RecordedEvent } from '@siteflow/eventstore';
import type { StreamCommand } from '@siteflow/servicekit';
import {
  decide,
  evolve,
  initialSessionState,
  seenAt,
  sessionStreamId,
  type SessionCommand,
  type SessionEvent,
  type SessionState,
} from './session.js';

/**
 * A command on a presence session's stream (run it with `runStreamCommand`): sessions have one
 * writer at a time and no read model of their state, so it is folded from the stream's events. The
 * reply is what was recorded; `last_seen` moves with it.
 */
export function sessionCommand(
  sessionId: string,
  command: (now: Date) => SessionCommand,
): StreamCommand<SessionState, SessionEvent, SessionEvent[]> {
  const streamId = sessionStreamId(sessionId);
  return {
    streamId,
    load: async (tx) => (await tx.readStream(streamId)).map(toSessionEvent).reduce(evolve, initialSessionState),
    decide: (state, { now }) => decide(command(now), state),
    evolve,
    toNewEvent: (e) => ({ type: e.type, data: e.data, projectId: e.data.project_id, broadcast: null }),
    project: async (tx, { events }) => {
      for (const e of events) await touchLastSeen(tx.client, e);
    },
    reply: ({ events }) => events,
  };
}

function toSessionEvent(e: RecordedEvent): SessionEvent {
  return { type: e.type, data: e.data } as SessionEvent;
}

async function touchLastSeen(client: PoolClient, e: SessionEvent): Promise<void> {
  await client.query(
    `INSERT INTO presence.last_seen (project_id, user_id, last_seen_at) VALUES ($1, $2, $3)
     ON CONFLICT (project_id, user_id) DO UPDATE SET last_seen_at = GREATEST(presence.last_seen.last_seen_at, EXCLUDED.last_seen_at)`,
    [e.data.project_id, e.data.user_id, seenAt(e)],
  );
}

/** Members of a project seen at some point, latest first. */
export async function lastSeenOf(
  client: Pick<PoolClient, 'query'>,
  projectId: number,
): Promise<Array<{ user_id: number; last_seen_at: string }>> {
  const { rows } = await client.query<{ user_id: string; last_seen_at: Date }>(
    'SELECT user_id, last_seen_at FROM presence.last_seen WHERE project_id = $1 ORDER BY last_seen_at DESC, user_id',
    [projectId],
  );
  return rows.map((r) => ({ user_id: Number(r.user_id), last_seen_at: r.last_seen_at.toISOString() }));
}
