import type { ProjectMember } from '@siteflow/contracts';
import { formatMessageTime } from '../chat/formatTime.js';
import { memberName } from '../room/members.js';
import { LockIcon } from '../ui/LockIcon.js';
import type { RoomDocument } from './documentsState.js';

interface Props {
  documents: readonly RoomDocument[];
  /** Project members, to name each document's last editor. */
  members: readonly ProjectMember[] | undefined;
  selfId: number;
  onOpen: (documentId: number) => void;
}

/** "alice, 14:05" (or "you, …"): who saved the document last and when. */
function lastEdited(d: RoomDocument, members: readonly ProjectMember[] | undefined, selfId: number): string {
  const when = formatMessageTime(d.updated_at);
  const who = d.last_edited_by === selfId ? 'you' : memberName(members, d.last_edited_by);
  return who ? `${who}, ${when}` : when;
}

/** The room's documents with their lock holders; each opens in the document view. */
export function DocumentsPanel({ documents, members, selfId, onOpen }: Props) {
  return (
    <section className="panel documents-panel" id="documents" aria-labelledby="documents-heading">
      <h2 id="documents-heading" className="panel-title">
        Documents <span className="count">{documents.length}</span>
      </h2>
      {documents.length === 0 ? (
        <p className="empty">No documents yet.</p>
      ) : (
        <ul className="document-list">
          {documents.map((d) => (
            <li key={d.id} className={`document-item${d.lock ? ' is-locked' : ''}`} data-document-id={d.id}>
              <button type="button" className="document-open" onClick={() => onOpen(d.id)}>
                <span className="document-title">{d.title}</span>
                <span className="visually-hidden">
                  {d.lock ? `, ${d.lock.user_id === selfId ? 'you are' : `${d.lock.username} is`} editing` : ''}
                </span>
              </button>
              <span className="document-meta">
                <span className="version">v{d.version}</span>
                <span className="document-edited">{lastEdited(d, members, selfId)}</span>
                {d.lock && (
                  <span className={`lock-note${d.lock.user_id === selfId ? ' is-mine' : ''}`} aria-hidden="true">
                    <LockIcon />
                    {d.lock.user_id === selfId ? 'You are editing' : `${d.lock.username} is editing`}
                  </span>
                )}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
