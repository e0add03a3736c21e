import type { DocumentVersion, RoomSnapshot, VersionSummary } from '@siteflow/contracts';
import { useEffect, useMemo, useState } from 'react';
import { formatMessageTime } from '../chat/formatTime.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { describeActionError } from '../realtime/actionError.js';
import { MarkdownPreview } from './MarkdownPreview.js';
import { diffVersions, foldUnchanged } from './versionDiff.js';

interface Props {
  documentId: number;
  title: string;
  /** The version shown in the room: a newer one reloads the list. */
  currentVersion: number;
  /** Its text, which an older version is compared against. */
  currentContent: string | null;
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
export function VersionHistory({ documentId, title, currentVersion, currentContent, push, canRestore, hasUnsavedText, onRestored }: Props) {
  const [versions, setVersions] = useState<VersionSummary[]>([]);
  const [hasMore, setHasMore] = useState(false);
  // The first page is read again for every new current version; which read has settled is state,
  // so "loading" is derived, not set at the start of the effect.
  const [settled, setSettled] = useState<{ documentId: number; currentVersion: number; push: Props['push'] } | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const loading = loadingOlder || settled?.documentId !== documentId || settled.currentVersion !== currentVersion || settled.push !== push;
  const [error, setError] = useState<string | null>(null);
  const [viewing, setViewing] = useState<DocumentVersion | null>(null);
  /** The open version is shown as its changes up to the current version, not as a page. */
  const [comparing, setComparing] = useState(false);
  const [busy, setBusy] = useState<number | null>(null);

  useEffect(() => {
    let live = true;
    push('document:history', { document_id: documentId, limit: PAGE })
      .then((reply) => {
        if (!live) return;
        setVersions(reply.versions);
        setHasMore(reply.has_more);
        setError(null);
      })
      .catch((e: unknown) => {
        if (live) setError(describeActionError('Could not load the history', e));
      })
      .finally(() => {
        if (live) setSettled({ documentId, currentVersion, push });
      });
    return () => {
      live = false;
    };
  }, [documentId, currentVersion, push]);

  const loadOlder = async () => {
    const oldest = versions[versions.length - 1];
    if (!oldest) return;
    setLoadingOlder(true);
    try {
      const reply = await push('document:history', { document_id: documentId, before: oldest.version, limit: PAGE });
      setVersions((shown) => [...shown, ...reply.versions.filter((v) => !shown.some((s) => s.version === v.version))]);
      setHasMore(reply.has_more);
    } catch (e) {
      setError(describeActionError('Could not load older versions', e));
    } finally {
      setLoadingOlder(false);
    }
  };

  const view = async (version: number, compare = false) => {
    setBusy(version);
    try {
      setViewing(await push('document:get_version', { document_id: documentId, version }));
      setComparing(compare);
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
              <button
                type="button"
                className="button button-small"
                onClick={() => void view(v.version)}
                disabled={busy !== null}
                aria-label={`View version ${v.version}`}
              >
                View
              </button>
              {v.version !== currentVersion && currentContent !== null && (
                <button
                  type="button"
                  className="button button-small"
                  onClick={() => void view(v.version, true)}
                  disabled={busy !== null}
                  aria-label={`Compare version ${v.version} with the current version`}
                >
                  Compare
                </button>
              )}
              {canRestore && v.version !== currentVersion && (
                <button
                  type="button"
                  className="button button-small"
                  onClick={() => void restore(v.version)}
                  disabled={busy !== null}
                  aria-label={`Restore version ${v.version}`}
                >
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
              {comparing
                ? `${title}: changes from v${viewing.version} to v${currentVersion} (current)`
                : `${title}, version ${viewing.version}`}
              {!comparing && viewing.restored_from !== null && <span className="muted"> (restored from v{viewing.restored_from})</span>}
            </h4>
            <span className="version-view-actions">
              {currentContent !== null && viewing.version !== currentVersion && (
                <button
                  type="button"
                  className="button button-small button-quiet"
                  aria-pressed={comparing}
                  onClick={() => setComparing((c) => !c)}
                >
                  {comparing ? 'Show the text' : 'Show changes'}
                </button>
              )}
              <button type="button" className="button button-small" onClick={() => setViewing(null)}>
                Close
              </button>
            </span>
          </div>
          {comparing && currentContent !== null ? (
            <VersionChanges older={viewing.content} newer={currentContent} />
          ) : (
            <MarkdownPreview content={viewing.content} />
          )}
        </div>
      )}
    </section>
  );
}

/** Line changes between two texts, unchanged runs folded; marked by sign and colour, and named for screen readers. */
function VersionChanges({ older, newer }: { older: string; newer: string }) {
  const diff = useMemo(() => diffVersions(older, newer), [older, newer]);
  const rows = useMemo(() => foldUnchanged(diff.lines), [diff]);
  if (diff.added === 0 && diff.removed === 0) return <p className="empty">No changes: the texts are the same.</p>;
  return (
    <div className="version-diff">
      <p className="muted small" data-testid="diff-summary">
        {diff.added} line{diff.added === 1 ? '' : 's'} added, {diff.removed} removed
      </p>
      <ol className="diff-lines">
        {rows.map((row, i) =>
          row.kind === 'fold' ? (
            <li key={i} className="diff-fold">
              ⋯ {row.hidden} unchanged line{row.hidden === 1 ? '' : 's'}
            </li>
          ) : (
            <li key={i} className={`diff-line diff-${row.kind}`}>
              <span className="diff-sign" aria-hidden="true">
                {row.kind === 'added' ? '+' : row.kind === 'removed' ? '−' : ' '}
              </span>
              {row.kind !== 'same' && <span className="visually-hidden">{row.kind}: </span>}
              <span className="diff-text">{row.text || ' '}</span>
            </li>
          ),
        )}
      </ol>
    </div>
  );
}
