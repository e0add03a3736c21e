import { formatMessageTime } from '../chat/formatTime.js';
import { LockIcon } from '../ui/LockIcon.js';
import type { RoomDocument } from './documentsState.js';

interface Props {
  documents: readonly RoomDocument[];
  selfId: number;
  onOpen: (documentId: number) => void;
}

/** The room's documents with their lock holders; each opens in the document view. */
export function DocumentsPanel({ documents, selfId, onOpen }: Props) {
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
                <span className="visually-hidden">{d.lock ? `, ${d.lock.user_id === selfId ? 'you are' : `${d.lock.username} is`} editing` : ''}</span>
              </button>
              <span className="document-meta">
                <span className="version" title={`Updated ${formatMessageTime(d.updated_at)}`}>
                  v{d.version}
                </span>
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
