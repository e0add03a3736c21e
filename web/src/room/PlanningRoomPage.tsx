import type { RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useMemo, useReducer } from 'react';
import { useAuth, useSession } from '../auth/AuthProvider.js';
import { ChatPanel } from '../chat/ChatPanel.js';
import { ChecklistPanel } from '../checklist/ChecklistPanel.js';
import { DocumentsPanel } from '../documents/DocumentsPanel.js';
import type { ChannelError } from '../realtime/channelError.js';
import { isTerminalJoinError } from '../realtime/channelError.js';
import { sortOnlineUsers } from '../realtime/onlineUsers.js';
import { projectTopic } from '../realtime/topics.js';
import { useChannel, type ServerEventHandlers } from '../realtime/useChannel.js';
import { usePresence } from '../realtime/usePresence.js';
import { Link } from '../routing/Router.js';
import { useDocumentTitle } from '../ui/useDocumentTitle.js';
import { OnlineUsers } from './OnlineUsers.js';
import { RoomHeader } from './RoomHeader.js';
import { reduceRoom, roomEvents, type RoomAction } from './roomState.js';

const NO_PARAMS = {};

/**
 * The planning room of one project. State flows one way: the join reply (snapshot) and every
 * broadcast go through `reduceRoom`; a rejoin's snapshot replaces the state; panels only render.
 * Presence comes from Phoenix's Presence on the same channel.
 */
export function PlanningRoomPage({ projectId }: { projectId: number }) {
  const { user } = useSession();
  const [room, dispatch] = useReducer(reduceRoom, null);

  const events = useMemo(
    () => Object.fromEntries(roomEvents.map((event) => [event, (payload: unknown) => dispatch({ type: event, payload } as RoomAction)])) as ServerEventHandlers,
    [],
  );
  const channel = useChannel<RoomSnapshot>(projectTopic(projectId), NO_PARAMS, {
    onJoin: (snapshot) => dispatch({ type: 'snapshot', snapshot }),
    events,
  });
  const presence = usePresence(channel.channel);
  const onlineUsers = useMemo(() => sortOnlineUsers(presence, user.id), [presence, user.id]);

  const documents = room?.documents;
  const documentTitle = useCallback((id: number) => documents?.find((d) => d.id === id)?.title, [documents]);
  useDocumentTitle(room?.project?.name ?? `Project ${projectId}`);

  if (!room) {
    return (
      <div className="page room">
        <RoomHeader project={null} projectId={projectId} />
        {channel.joinError ? <JoinProblem error={channel.joinError} /> : <p className="room-loading" role="status">Joining the planning room…</p>}
      </div>
    );
  }

  return (
    <div className="page room">
      <RoomHeader project={room.project} projectId={projectId}>
        <OnlineUsers users={onlineUsers} selfId={user.id} documentTitle={documentTitle} />
      </RoomHeader>
      {!channel.joined && (
        <p className="stale-banner" role="status">
          {channel.joinError && isTerminalJoinError(channel.joinError)
            ? `You are no longer in this room: ${channel.joinError.reason}.`
            : 'Connection lost. What you see may be out of date; it refreshes as soon as the room is back.'}
        </p>
      )}
      <div className="room-grid">
        <div className="room-work">
          <DocumentsPanel documents={room.documents} selfId={user.id} />
          <ChecklistPanel checklist={room.checklist} />
        </div>
        <ChatPanel
          messages={room.chat.messages}
          hasMore={room.chat.has_more}
          selfId={user.id}
          joined={channel.joined}
          push={channel.push}
          onSent={(message) => dispatch({ type: 'chat:sent', message })}
          onHistory={(reply) => dispatch({ type: 'chat:history_loaded', reply })}
        />
      </div>
    </div>
  );
}

function JoinProblem({ error }: { error: ChannelError }) {
  const { signOut } = useAuth();
  if (!isTerminalJoinError(error)) {
    return (
      <p className="notice notice-warn" role="status">
        The planning room is not answering ({error.reason}). Retrying…
      </p>
    );
  }
  const message =
    error.code === 'unauthorized'
      ? 'Your session is no longer valid.'
      : error.code === 'forbidden'
        ? 'You are not a member of this project.'
        : error.code === 'not_found' || error.code === 'unmatched_topic'
          ? 'This project does not exist.'
          : 'You cannot open this planning room.';
  return (
    <div className="notice notice-error" role="alert">
      <p>
        <strong>{message}</strong> <span className="muted">({error.reason})</span>
      </p>
      <p className="notice-actions">
        {error.code === 'unauthorized' ? (
          <button type="button" className="button" onClick={signOut}>
            Sign in again
          </button>
        ) : (
          <Link className="button" to="/projects">
            Back to projects
          </Link>
        )}
      </p>
    </div>
  );
}
