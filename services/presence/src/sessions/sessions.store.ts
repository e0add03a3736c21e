import type { PoolClient, QueryConfig } from 'pg';
import { prepared, type EventStoreTx, type RecordedEvent } from '@siteflow/eventstore';
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
    project: (tx, change) => projectSessions(tx, [change]),
    projectMany: projectSessions,
    reply: ({ events }) => events,
  };
}

function toSessionEvent(e: RecordedEvent): SessionEvent {
  return { type: e.type, data: e.data } as SessionEvent;
}

/**
 * `last_seen` moves with the sessions' events: one statement for every change of a group commit
 * (each (project, user) once, at its latest, in key order: two transactions meet their rows in one order).
 */
function projectSessions(tx: EventStoreTx, changes: Array<{ events: SessionEvent[] }>): Promise<void> {
  const events = changes.flatMap((c) => c.events);
  // With COMMIT, in its round trip: nothing later in the transaction reads last_seen.
  if (events.length > 0) tx.atCommit(touchLastSeen(events));
  return Promise.resolve();
}

function touchLastSeen(events: SessionEvent[]): QueryConfig<unknown[]> {
  return prepared(
    `INSERT INTO presence.last_seen (project_id, user_id, last_seen_at)
       SELECT project_id, user_id, max(seen) FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS t(project_id, user_id, seen)
        GROUP BY project_id, user_id ORDER BY project_id, user_id
       ON CONFLICT (project_id, user_id) DO UPDATE SET last_seen_at = GREATEST(presence.last_seen.last_seen_at, EXCLUDED.last_seen_at)`,
    [events.map((e) => e.data.project_id), events.map((e) => e.data.user_id), events.map((e) => seenAt(e))],
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
