import type { RoomSnapshot } from '@siteflow/contracts';
import { useEffect, useState } from 'react';
import { formatMessageTime } from '../chat/formatTime.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import type { DocumentVersionData, VersionSummaryData } from '../realtime/wire.js';
import { describeActionError } from '../realtime/actionError.js';
import { MarkdownPreview } from './MarkdownPreview.js';

interface Props {
  documentId: number;
  title: string;
  /** The version shown in the room: a newer one reloads the list. */
  currentVersion: number;
  push: ChannelApi<RoomSnapshot>['push'];
  /** Only the lock holder may restore (the restore is a new version written by them). */
  canRestore: boolean;
  /** Restoring would replace text the person has not saved. */
  hasUnsavedText: boolean;
  onRestored: (version: number, content: string) => void;
}

const PAGE = 20;

const formatSize = (bytes: number) => (bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`);

/** The versions of one document, newest first, each viewable and (for the lock holder) restorable. */
export function VersionHistory({ documentId, title, currentVersion, push, canRestore, hasUnsavedText, onRestored }: Props) {
  const [versions, setVersions] = useState<VersionSummaryData[]>([]);
  const [hasMore, setHasMore] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [viewing, setViewing] = useState<DocumentVersionData | null>(null);
  const [busy, setBusy] = useState<number | null>(null);

  useEffect(() => {
    let live = true;
    setLoading(true);
    push('document:history', { document_id: documentId, limit: PAGE })
      .then((reply) => {
        if (!live) return;
        setVersions(reply.versions);
        setHasMore(reply.has_more);
        setError(null);
      })
      .catch((e: unknown) => live && setError(describeActionError('Could not load the history', e)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [documentId, currentVersion, push]);

  const loadOlder = async () => {
    const oldest = versions[versions.length - 1];
    if (!oldest) return;
    setLoading(true);
    try {
      const reply = await push('document:history', { document_id: documentId, before: oldest.version, limit: PAGE });
      setVersions((shown) => [...shown, ...reply.versions.filter((v) => !shown.some((s) => s.version === v.version))]);
      setHasMore(reply.has_more);
    } catch (e) {
      setError(describeActionError('Could not load older versions', e));
    } finally {
      setLoading(false);
    }
  };

  const view = async (version: number) => {
    setBusy(version);
    try {
      setViewing(await push('document:get_version', { document_id: documentId, version }));
      setError(null);
    } catch (e) {
      setError(describeActionError(`Could not open version ${version}`, e));
    } finally {
      setBusy(null);
    }
  };

  const restore = async (version: number) => {
    if (hasUnsavedText && !window.confirm(`Restoring version ${version} replaces your unsaved text. Restore it?`)) return;
    setBusy(version);
    try {
      const old = viewing?.version === version ? viewing : await push('document:get_version', { document_id: documentId, version });
      const reply = await push('document:restore', { document_id: documentId, version });
      onRestored(reply.version, old.content);
      setViewing(null);
      setError(null);
    } catch (e) {
      setError(describeActionError(`Version ${version} was not restored`, e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="version-history" aria-labelledby={`history-${documentId}`}>
      <h3 id={`history-${documentId}`} className="subheading">
        Version history
      </h3>
      {!canRestore && <p className="muted small">Start editing to restore an earlier version.</p>}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <ol className="version-list">
        {versions.map((v) => (
          <li key={v.version} className={`version-item${v.version === currentVersion ? ' is-current' : ''}`}>
            <span className="version-label">
              <strong>v{v.version}</strong>
              {v.version === currentVersion && <span className="muted"> (current)</span>}
              <span className="muted">
                {' '}
                · {v.saved_by_name ?? 'system'} · <time dateTime={v.saved_at}>{formatMessageTime(v.saved_at)}</time> · {formatSize(v.size)}
              </span>
            </span>
            <span className="version-actions">
              <button type="button" className="button button-small" onClick={() => void view(v.version)} disabled={busy !== null} aria-label={`View version ${v.version}`}>
                View
              </button>
              {canRestore && v.version !== currentVersion && (
                <button type="button" className="button button-small" onClick={() => void restore(v.version)} disabled={busy !== null} aria-label={`Restore version ${v.version}`}>
                  {busy === v.version ? 'Restoring…' : 'Restore'}
                </button>
              )}
            </span>
          </li>
        ))}
      </ol>
      {loading && <p className="muted small">Loading…</p>}
      {!loading && versions.length === 0 && !error && <p className="empty">No versions yet.</p>}
      {hasMore && !loading && (
        <button type="button" className="button button-quiet" onClick={() => void loadOlder()}>
          Load older versions
        </button>
      )}
      {viewing && (
        <div className="version-view">
          <div className="version-view-header">
            <h4 className="subheading">
              {title}, version {viewing.version}
              {viewing.restored_from !== null && <span className="muted"> (restored from v{viewing.restored_from})</span>}
            </h4>
            <button type="button" className="button button-small" onClick={() => setViewing(null)}>
              Close
            </button>
          </div>
          <MarkdownPreview content={viewing.content} />
        </div>
      )}
    </section>
  );
}
