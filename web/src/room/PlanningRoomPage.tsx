import type { ProjectStatus, RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'react';
import { useAuth, useSession } from '../auth/AuthProvider.js';
import { ChatPanel } from '../chat/ChatPanel.js';
import { ChecklistPanel } from '../checklist/ChecklistPanel.js';
import { unreadBadge } from '../chat/messages.js';
import { DocumentsPanel } from '../documents/DocumentsPanel.js';
import { DocumentView } from '../documents/DocumentView.js';
import { handOver, isEditing } from '../documents/editSessions.js';
import type { ChannelError } from '../realtime/channelError.js';
import { isTerminalJoinError } from '../realtime/channelError.js';
import { sortOnlineUsers } from '../realtime/onlineUsers.js';
import { projectTopic, userTopic } from '@siteflow/contracts/constants';
import { useChannel, type ServerEventHandlers } from '../realtime/useChannel.js';
import { usePresence } from '../realtime/usePresence.js';
import { Link } from '../routing/Router.js';
import { useToast } from '../ui/Toaster.js';
import { useDocumentTitle } from '../ui/useDocumentTitle.js';
import { OnlineUsers } from './OnlineUsers.js';
import { ProjectNameControl } from './ProjectNameControl.js';
import { ProjectStatusControl } from './ProjectStatusControl.js';
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
    () =>
      Object.fromEntries(
        roomEvents.map((event) => [event, (payload: unknown) => dispatch({ type: event, payload } as RoomAction)]),
      ) as ServerEventHandlers,
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
  const documentTitleRef = useRef(documentTitle);
  useLayoutEffect(() => {
    documentTitleRef.current = documentTitle;
  });
  useDocumentTitle(room?.project?.name ?? `Project ${projectId}`);

  // The user's own topic: unread counts, edit requests and revocations addressed to them.
  const toast = useToast();
  const userEvents = useMemo<ServerEventHandlers>(
    () => ({
      'chat:unread': (payload) => dispatch({ type: 'chat:unread', payload }),
      'document:edit_requested': (p) => {
        if (p.project_id !== projectId) return;
        const title = documentTitleRef.current(p.document_id) ?? 'a document';
        toast({
          key: `request:${p.document_id}:${p.user_id}`,
          tone: 'warn',
          text: `${p.username} asks to edit ${title}${p.message ? `: “${p.message}”` : ''}`,
          // Only the tab that edits it can hand it over (save, then release).
          ...(isEditing(p.document_id) ? { action: { label: 'Hand over', run: () => void handOver(p.document_id) } } : {}),
        });
      },
      'document:lock_revoked': (p) => {
        if (p.project_id !== projectId) return;
        toast({
          tone: 'warn',
          text: `${p.by_username} released your edit lock on ${documentTitleRef.current(p.document_id) ?? 'a document'}`,
        });
      },
    }),
    [projectId, toast],
  );
  const userChannel = useChannel(userTopic(user.id), NO_PARAMS, { events: userEvents });

  const [openDocumentId, setOpenDocumentId] = useState<number | null>(null);
  // Back in the list, focus returns to the document that was open.
  const lastOpened = useRef<number | null>(null);
  const openDocument = room?.documents.find((d) => d.id === openDocumentId) ?? null;
  const closeDocument = useCallback(() => {
    lastOpened.current = openDocumentId;
    setOpenDocumentId(null);
  }, [openDocumentId]);
  const onOpen = useCallback((id: number) => setOpenDocumentId(id), []);
  useEffect(() => {
    if (openDocumentId !== null || lastOpened.current === null) return;
    document.querySelector<HTMLButtonElement>(`.document-item[data-document-id="${lastOpened.current}"] .document-open`)?.focus();
    lastOpened.current = null;
  }, [openDocumentId]);
  const onRead = useCallback((unread_count: number) => dispatch({ type: 'chat:read', unread_count }), []);
  const onStatusSet = useCallback((status: ProjectStatus) => dispatch({ type: 'project:status_set', status }), []);

  if (!room) {
    return (
      <div className="page room">
        <RoomHeader project={null} projectId={projectId} />
        {channel.joinError ? (
          <JoinProblem error={channel.joinError} />
        ) : (
          <p className="room-loading" role="status">
            Joining the planning room…
          </p>
        )}
      </div>
    );
  }

  // Roles are per project: what this user may do here is their role in this project's members.
  const isAdmin = room.project?.members.find((m) => m.user_id === user.id)?.role === 'admin';

  return (
    <div className="page room">
      <RoomHeader
        project={room.project}
        projectId={projectId}
        rename={
          room.project && isAdmin ? <ProjectNameControl name={room.project.name} joined={channel.joined} push={channel.push} /> : undefined
        }
      >
        <OnlineUsers users={onlineUsers} selfId={user.id} documentTitle={documentTitle} />
        {room.project && isAdmin && (
          <ProjectStatusControl status={room.project.status} joined={channel.joined} push={channel.push} onSet={onStatusSet} />
        )}
      </RoomHeader>
      <nav className="room-nav" aria-label="Sections of the room">
        <a href="#documents">Documents</a>
        <a href="#checklist">Checklist</a>
        <a href="#chat">
          Chat
          {room.chat.unread_count > 0 && (
            <span className="unread-badge" aria-label={`${room.chat.unread_count} unread`}>
              {unreadBadge(room.chat.unread_count)}
            </span>
          )}
        </a>
      </nav>
      {!channel.joined && (
        <p className="stale-banner" role="status">
          {channel.joinError && isTerminalJoinError(channel.joinError)
            ? `You are no longer in this room: ${channel.joinError.reason}.`
            : 'Connection lost. What you see may be out of date; it refreshes as soon as the room is back.'}
        </p>
      )}
      <div className="room-grid">
        <div className="room-work">
          {openDocument ? (
            <div id="document-view" className="document-view-wrap">
              <DocumentView
                key={openDocument.id}
                doc={openDocument}
                selfId={user.id}
                isAdmin={isAdmin}
                room={channel}
                subscribeUser={userChannel.on}
                epoch={room.epoch}
                onClose={closeDocument}
                // The saver's own socket gets no broadcast of its save: its list learns it here.
                onSaved={(payload) =>
                  dispatch({ type: 'document:updated', payload: { ...payload, updated_by: user.username, updated_by_id: user.id } })
                }
              />
            </div>
          ) : (
            <DocumentsPanel documents={room.documents} members={room.project?.members} selfId={user.id} onOpen={onOpen} />
          )}
          <ChecklistPanel
            checklist={room.checklist}
            members={room.project?.members}
            joined={channel.joined}
            isAdmin={isAdmin}
            push={channel.push}
            onToggled={(reply) => dispatch({ type: 'checklist:toggled', reply })}
            onReplaced={(checklist) => dispatch({ type: 'checklist:replaced', checklist })}
          />
        </div>
        <ChatPanel
          messages={room.chat.messages}
          hasMore={room.chat.has_more}
          selfId={user.id}
          joined={channel.joined}
          push={channel.push}
          on={channel.on}
          unreadCount={room.chat.unread_count}
          onRead={onRead}
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
