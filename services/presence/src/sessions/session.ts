import { AppError } from '@siteflow/contracts';

/**
 * A presence session: one connection in one project's room, from join to leave or eviction.
 * Recorded as events so the room can show members who are offline with their last_seen_at.
 */
export type SessionJoined = {
  type: 'SessionJoined';
  data: { connection_id: string; user_id: number; project_id: number; joined_at: string };
};
export type SessionLeft = {
  type: 'SessionLeft';
  data: { connection_id: string; user_id: number; project_id: number; left_at: string };
};
export type ConnectionEvicted = {
  type: 'ConnectionEvicted';
  data: { connection_id: string; user_id: number; project_id: number; evicted_at: string };
};
export type SessionEvent = SessionJoined | SessionLeft | ConnectionEvicted;

/**
 * Session events only presence reads (last_seen): stored, not published. ConnectionEvicted is
 * published: documents releases the evicted connection's locks on it.
 */
export const PRIVATE_SESSION_EVENTS: readonly SessionEvent['type'][] = ['SessionJoined', 'SessionLeft'];

export type SessionState =
  { status: 'none' } | { status: 'online'; connectionId: string; userId: number; projectId: number } | { status: 'ended' };
export const initialSessionState: SessionState = { status: 'none' };

export type JoinSession = { type: 'JoinSession'; data: { connectionId: string; userId: number; projectId: number; now: Date } };
export type LeaveSession = { type: 'LeaveSession'; data: { now: Date } };
export type EvictConnection = { type: 'EvictConnection'; data: { now: Date } };
export type SessionCommand = JoinSession | LeaveSession | EvictConnection;

export function sessionStreamId(sessionId: string): string {
  return `presence-session-${sessionId}`;
}

/** Pure. A session ends once: a late leave after an eviction (or the reverse) records nothing. */
export function decide(command: SessionCommand, state: SessionState): SessionEvent[] {
  switch (command.type) {
    case 'JoinSession': {
      if (state.status !== 'none') throw new AppError('already_exists', 'this session has already started');
      const d = command.data;
      return [
        {
          type: 'SessionJoined',
          data: { connection_id: d.connectionId, user_id: d.userId, project_id: d.projectId, joined_at: d.now.toISOString() },
        },
      ];
    }
    case 'LeaveSession':
    case 'EvictConnection': {
      if (state.status !== 'online') return [];
      const who = { connection_id: state.connectionId, user_id: state.userId, project_id: state.projectId };
      const at = command.data.now.toISOString();
      return command.type === 'LeaveSession'
        ? [{ type: 'SessionLeft', data: { ...who, left_at: at } }]
        : [{ type: 'ConnectionEvicted', data: { ...who, evicted_at: at } }];
    }
    default: {
      const unknown: never = command;
      throw new AppError('invalid_payload', `unknown command ${String((unknown as { type: unknown }).type)}`);
    }
  }
}

export function evolve(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case 'SessionJoined':
      return { status: 'online', connectionId: event.data.connection_id, userId: event.data.user_id, projectId: event.data.project_id };
    case 'SessionLeft':
    case 'ConnectionEvicted':
      return { status: 'ended' };
    default:
      return state;
  }
}

/** When the member was last seen by this event (joined, left or evicted). */
export function seenAt(event: SessionEvent): string {
  switch (event.type) {
    case 'SessionJoined':
      return event.data.joined_at;
    case 'SessionLeft':
      return event.data.left_at;
    case 'ConnectionEvicted':
      return event.data.evicted_at;
  }
}
