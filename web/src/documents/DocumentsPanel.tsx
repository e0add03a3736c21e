import { LockIcon } from '../ui/LockIcon.js';
import type { RoomDocument } from './documentsState.js';

/** The room's documents with their lock holders. Opening and editing a document comes next. */
export function DocumentsPanel({ documents, selfId }: { documents: readonly RoomDocument[]; selfId: number }) {
  return (
    <section className="panel documents-panel" aria-labelledby="documents-heading">
      <h2 id="documents-heading" className="panel-title">
        Documents <span className="count">{documents.length}</span>
      </h2>
      {documents.length === 0 ? (
        <p className="empty">No documents yet.</p>
      ) : (
        <ul className="document-list">
          {documents.map((d) => (
            <li key={d.id} className={`document-item${d.lock ? ' is-locked' : ''}`} data-document-id={d.id}>
              <span className="document-title">{d.title}</span>
              <span className="document-meta">
                <span className="version">v{d.version}</span>
                {d.lock && (
                  <span className={`lock-note${d.lock.user_id === selfId ? ' is-mine' : ''}`}>
                    <LockIcon />
                    {d.lock.username} is editing
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
