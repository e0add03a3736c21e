import type { PoolClient } from 'pg';
import type { RecordedEvent } from '@siteflow/eventstore';
import { retryOnConcurrency, type ServiceKit } from '@siteflow/servicekit';
import { decide, evolve, initialSessionState, seenAt, sessionStreamId, type SessionCommand, type SessionEvent } from './session.js';

/** Load → decide → append → project last_seen, in one transaction; returns what was recorded. */
export function recordSession(kit: ServiceKit, sessionId: string, command: SessionCommand): Promise<SessionEvent[]> {
  const streamId = sessionStreamId(sessionId);
  return retryOnConcurrency(() =>
    kit.store.transaction(async (tx) => {
      const history = await tx.readStream(streamId);
      const state = history.map(toSessionEvent).reduce(evolve, initialSessionState);
      const events = decide(command, state);
      if (events.length === 0) return [];
      // Append first, then project: the append is the transaction's first write (see eventstore).
      await tx.append(
        streamId,
        events.map((e) => ({ type: e.type, data: e.data, projectId: e.data.project_id, broadcast: null })),
        { expectedVersion: history.length, now: command.data.now },
      );
      for (const e of events) await touchLastSeen(tx.client, e);
      return events;
    }),
  );
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
