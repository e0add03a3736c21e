import { RetryKeys } from '../realtime/retryKeys.js';
import type { RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useEffect, useId, useLayoutEffect, useReducer, useRef, useState } from 'react';
import { holdUnsavedWork } from '../app/unsavedWork.js';
import { formatMessageTime } from '../chat/formatTime.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { LockIcon } from '../ui/LockIcon.js';
import { useToast } from '../ui/Toaster.js';
import { asChannelError, currentVersionOf, describeActionError, lockRefusal } from '../realtime/actionError.js';
import type { RoomDocument } from './documentsState.js';
import { editorShortcut } from './editorKeys.js';
import { holdEditSession } from './editSessions.js';
import { updateNoticeDue, updateNoticeText, type UpdateNoticeSeen } from './updateNotices.js';
import {
  autoSaveDue,
  ELSEWHERE,
  mayStartEditing,
  openEditor,
  problemText,
  reduceEditor,
  sameInstant,
  savePayload,
  savingLabel,
  takenOverElsewhere,
  unlockEndsMyEdit,
} from './editorState.js';
import { MarkdownPreview } from './MarkdownPreview.js';
import { VersionHistory } from './VersionHistory.js';

/** Auto-save 2 s after typing stops, and every 10 s during continuous typing (seed, section 8). */
const AUTO_SAVE_IDLE_MS = 2_000;
const AUTO_SAVE_EVERY_MS = 10_000;
/** Lease renewal while editing, well inside the service's lease. */
const HEARTBEAT_MS = 30_000;

interface Props {
  doc: RoomDocument;
  selfId: number;
  isAdmin: boolean;
  room: ChannelApi<RoomSnapshot>;
  /** The user's own `user:<id>` channel: lock revocations arrive there. */
  subscribeUser: ChannelApi<unknown>['on'];
  /** Counts room snapshots: a new one means a (re)join, so content and lock are re-read. */
  epoch: number;
  onClose: () => void;
  /** A save (or restore) of this client's was accepted. */
  onSaved: (saved: { document_id: number; version: number; updated_at: string; content: string }) => void;
}

export function DocumentView({ doc, selfId, isAdmin, room, subscribeUser, epoch, onClose, onSaved }: Props) {
  const [state, dispatch] = useReducer(reduceEditor, undefined, () => openEditor(doc.id, doc.version));
  const stateRef = useRef(state);
  useLayoutEffect(() => {
    stateRef.current = state;
  });
  const toast = useToast();
  const { push, on, joined } = room;
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState<null | 'start' | 'stop' | 'request' | 'save' | 'release'>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [takeOverOffer, setTakeOverOffer] = useState(false);
  const [requestedFrom, setRequestedFrom] = useState<string | null>(null);
  const requestedFromRef = useRef(requestedFrom);
  const [showHistory, setShowHistory] = useState(false);
  const saveInFlight = useRef(false);
  const saveKeys = useRef(new RetryKeys());
  const onSavedRef = useRef(onSaved);
  useLayoutEffect(() => {
    onSavedRef.current = onSaved;
  });
  const editorId = useId();
  const headingId = useId();

  const lockedByOther = doc.lock !== null && doc.lock.user_id !== selfId ? doc.lock : null;

  // Opening a document moves keyboard focus to it, as following a link would.
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);

  // Content on open and after every (re)join: what happened while offline is shown, the draft kept.
  useEffect(() => {
    if (!joined) return;
    let live = true;
    push('document:get', { document_id: doc.id })
      .then((d) => {
        if (!live) return;
        setLoadError(null);
        dispatch({ type: 'loaded', content: d.content, version: d.version });
      })
      .catch((e: unknown) => live && setLoadError(describeActionError('Could not load the document', e)));
    return () => {
      live = false;
    };
  }, [doc.id, epoch, joined, push]);

  // After a rejoin the old connection's lock is gone or dying: take it back for this connection,
  // or tell the person who has it now. The draft stays either way.
  const seenEpoch = useRef(epoch);
  /** A re-take is in flight: its own `document:locked` may overtake its reply. */
  const retaking = useRef(false);
  useEffect(() => {
    if (seenEpoch.current === epoch) return;
    seenEpoch.current = epoch;
    const s = stateRef.current;
    if (!s.editing) return;
    if (lockedByOther) {
      dispatch({ type: 'lock_lost', why: `${lockedByOther.username} is editing it now` });
      return;
    }
    // The user's lock with another start time is another tab's, not this tab's old connection's.
    if (doc.lock?.user_id === selfId && s.lockedAt !== null && !sameInstant(doc.lock.locked_at, s.lockedAt)) {
      dispatch({ type: 'lock_lost', why: ELSEWHERE });
      return;
    }
    retaking.current = true;
    push('document:start_editing', doc.lock?.user_id === selfId ? { document_id: doc.id, take_over: true } : { document_id: doc.id })
      .then((reply) => dispatch({ type: 'lock_retaken', lockedAt: reply.locked_at }))
      .catch((e: unknown) => dispatch({ type: 'lock_lost', why: asChannelError(e).reason }))
      .finally(() => {
        retaking.current = false;
      });
    // Only a new snapshot triggers this; the lock read is the one that snapshot brought.
  }, [epoch]);

  // Broadcasts about this document.
  const lastUpdateNotice = useRef<UpdateNoticeSeen | undefined>(undefined);
  const titleRef = useRef(doc.title);
  useEffect(() => {
    const offs = [
      on('document:updated', (p) => {
        if (p.document_id !== doc.id) return;
        const before = stateRef.current;
        dispatch({ type: 'remote_update', payload: p, selfId });
        if (p.updated_by_id !== selfId && p.version > before.version) {
          const now = Date.now();
          const due = updateNoticeDue(lastUpdateNotice.current, p.updated_by_id, now);
          lastUpdateNotice.current = { userId: p.updated_by_id, at: now };
          if (due) toast({ key: `updated:${doc.id}`, text: updateNoticeText(p.updated_by, titleRef.current, p.version), tone: 'info' });
        }
      }),
      on('document:locked', (p) => {
        if (p.document_id !== doc.id || !stateRef.current.editing) return;
        if (p.user_id !== selfId) dispatch({ type: 'lock_lost', why: `${p.username} is editing it now` });
        else if (!retaking.current && takenOverElsewhere(p, stateRef.current, selfId)) dispatch({ type: 'lock_lost', why: ELSEWHERE });
      }),
      on('document:unlocked', (p) => {
        const why = unlockEndsMyEdit(p, stateRef.current, selfId);
        if (why) dispatch({ type: 'lock_lost', why });
        if (p.document_id !== doc.id) return;
        // Whoever asked for the lock hears that it is free, with the way to take it.
        if (requestedFromRef.current !== null) {
          toast({
            key: `free:${doc.id}`,
            tone: 'info',
            text: `${titleRef.current} is free to edit now`,
            action: { label: 'Start editing', run: () => void startEditingRef.current() },
          });
        }
        setRequestedFrom(null);
      }),
      subscribeUser('document:lock_revoked', (p) => {
        if (p.document_id !== doc.id) return;
        dispatch({ type: 'lock_lost', why: `${p.by_username} released it${p.reason ? `: ${p.reason}` : ''}` });
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [on, subscribeUser, doc.id, selfId, toast]);

  const save = useCallback(
    async (kind: 'manual' | 'auto'): Promise<boolean> => {
      const s = stateRef.current;
      const payload = savePayload(s);
      if (!payload || saveInFlight.current) return false;
      if (!s.dirty) return true;
      saveInFlight.current = true;
      dispatch({ type: 'save_started' });
      try {
        // One key per (base version, text): saving the same text on the same base again after a
        // failure is a retry, answered as the first was (not a version_conflict against itself).
        const intent = `${kind}:${payload.base_version}:${payload.content}`;
        const reply = await push(kind === 'auto' ? 'document:auto_save' : 'document:save', payload, {
          idempotencyKey: saveKeys.current.keyFor(intent),
        });
        saveKeys.current.succeeded(intent);
        dispatch({ type: 'saved', version: reply.version, content: payload.content, at: reply.updated_at });
        if (reply.saved)
          onSavedRef.current({ document_id: doc.id, version: reply.version, updated_at: reply.updated_at, content: payload.content });
        return true;
      } catch (e) {
        const err = asChannelError(e);
        const currentVersion = currentVersionOf(err);
        dispatch(
          currentVersion === undefined
            ? { type: 'save_failed', code: err.code, reason: err.reason }
            : { type: 'save_failed', code: err.code, reason: err.reason, currentVersion },
        );
        return false;
      } finally {
        saveInFlight.current = false;
      }
    },
    [push, doc.id],
  );

  // Auto-save: after a pause in typing…
  useEffect(() => {
    if (!state.editing || !state.dirty || !joined) return;
    const timer = window.setTimeout(() => void save('auto'), AUTO_SAVE_IDLE_MS);
    return () => window.clearTimeout(timer);
  }, [state.draft, state.editing, state.dirty, joined, save]);

  // …and regularly while typing never pauses.
  useEffect(() => {
    if (!state.editing || !joined) return;
    const timer = window.setInterval(() => {
      if (autoSaveDue(stateRef.current)) void save('auto');
    }, AUTO_SAVE_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [state.editing, joined, save]);

  // Lease renewal: a refusal means the lock is gone.
  useEffect(() => {
    if (!state.editing || !joined) return;
    const timer = window.setInterval(() => {
      push('document:heartbeat', { document_id: doc.id }).catch((e: unknown) => {
        const err = asChannelError(e);
        if (err.code === 'not_lock_holder' || err.code === 'not_found') dispatch({ type: 'lock_lost', why: err.reason });
      });
    }, HEARTBEAT_MS);
    return () => window.clearInterval(timer);
  }, [state.editing, joined, push, doc.id]);

  // Closing the tab with unsaved text: the browser asks first; signing out: the app does.
  useEffect(() => {
    if (!state.dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', onBeforeUnload);
    const release = holdUnsavedWork(() => `“${doc.title}”`);
    return () => {
      window.removeEventListener('beforeunload', onBeforeUnload);
      release();
    };
  }, [state.dirty, doc.title]);

  const startEditing = async (takeOver = false) => {
    setBusy('start');
    setActionError(null);
    try {
      const reply = await push('document:start_editing', takeOver ? { document_id: doc.id, take_over: true } : { document_id: doc.id });
      setTakeOverOffer(false);
      dispatch({ type: 'edit_started', lockedAt: reply.locked_at });
    } catch (e) {
      const err = asChannelError(e);
      setTakeOverOffer(lockRefusal(err)?.sameUser === true);
      setActionError(describeActionError('Could not start editing', err));
    } finally {
      setBusy(null);
    }
  };

  const startEditingRef = useRef(startEditing);
  useLayoutEffect(() => {
    startEditingRef.current = startEditing;
    requestedFromRef.current = requestedFrom;
    titleRef.current = doc.title;
  });

  const stopEditing = async (): Promise<boolean> => {
    setBusy('stop');
    setActionError(null);
    try {
      // Unsaved text is saved before the lock goes; if that fails, editing goes on.
      if (stateRef.current.dirty && !(await save('manual'))) return false;
      await push('document:stop_editing', { document_id: doc.id }).catch((e: unknown) => {
        // A lock that is already gone is stopped editing all the same.
        if (asChannelError(e).code !== 'not_lock_holder') throw e;
      });
      dispatch({ type: 'stopped' });
      return true;
    } catch (e) {
      setActionError(describeActionError('Could not stop editing', e));
      return false;
    } finally {
      setBusy(null);
    }
  };

  // Leaving the document ends the edit properly (save, release); kept text is only dropped on request.
  const close = async () => {
    if (stateRef.current.editing && !(await stopEditing())) return;
    if (stateRef.current.dirty && !window.confirm('Your unsaved text of this document will be lost. Close it anyway?')) return;
    onClose();
  };

  const requestEdit = async () => {
    if (!lockedByOther) return;
    setBusy('request');
    setActionError(null);
    try {
      await push('document:request_edit', { document_id: doc.id });
      setRequestedFrom(lockedByOther.username);
    } catch (e) {
      setActionError(describeActionError('The request was not sent', e));
    } finally {
      setBusy(null);
    }
  };

  const forceRelease = async () => {
    if (
      !lockedByOther ||
      !window.confirm(`Release ${lockedByOther.username}'s edit lock? Their unsaved text stays with them but cannot be saved.`)
    )
      return;
    setBusy('release');
    setActionError(null);
    try {
      await push('document:force_unlock', { document_id: doc.id, reason: 'released by an admin from the planning room' });
    } catch (e) {
      setActionError(describeActionError('The lock was not released', e));
    } finally {
      setBusy(null);
    }
  };

  const onSaveClick = async () => {
    setBusy('save');
    await save('manual');
    setBusy(null);
  };

  // Ctrl/⌘+S and Escape while editing, wherever the focus is in the page.
  const shortcuts = useRef({ save: onSaveClick, stop: stopEditing, busy });
  useLayoutEffect(() => {
    shortcuts.current = { save: onSaveClick, stop: stopEditing, busy };
  });
  // An edit request's "Hand over" ends this edit as Stop Editing does.
  useEffect(() => {
    if (!state.editing) return;
    return holdEditSession(doc.id, () => shortcuts.current.stop());
  }, [state.editing, doc.id]);
  useEffect(() => {
    if (!state.editing) return;
    const onKeyDown = (e: KeyboardEvent) => {
      const action = editorShortcut(e);
      if (!action || e.defaultPrevented) return;
      // Escape belongs to the document only when the focus is in it (chat and checklist use it too).
      if (action === 'stop' && !(e.target instanceof Element && (e.target === document.body || e.target.closest('.document-view')))) return;
      e.preventDefault();
      if (shortcuts.current.busy !== null) return;
      void (action === 'save' ? shortcuts.current.save() : shortcuts.current.stop());
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, [state.editing]);

  const { problem } = state;
  const content = state.content;
  const keptDraft = !state.editing && state.dirty;

  return (
    <section className="panel document-view" aria-labelledby={headingId} data-document-id={doc.id}>
      <div className="document-view-header">
        <button type="button" className="button button-quiet back-button" onClick={() => void close()} disabled={busy !== null}>
          <span aria-hidden="true">←</span> All documents
        </button>
        <h2 id={headingId} ref={headingRef} tabIndex={-1} className="panel-title document-view-title">
          {doc.title} <span className="count">v{state.version}</span>
        </h2>
      </div>

      {lockedByOther && (
        <div className="locked-banner" role="status">
          {/* The emoji is the banner's text (as in the seed); the drawn lock shows where no emoji font is installed. */}
          <LockIcon />
          <span className="visually-hidden">🔒 </span>
          {lockedByOther.username} is currently editing this document
        </div>
      )}

      {problem && (
        <div className={`notice ${problem.kind === 'save_failed' ? 'notice-warn' : 'notice-error'} editor-problem`} role="alert">
          <p>{problemText(state)}</p>
          {problem.kind === 'conflict' && (
            <p className="notice-actions">
              <button type="button" className="button" onClick={() => dispatch({ type: 'rebase' })}>
                Keep my text (save over v{problem.currentVersion})
              </button>{' '}
              <button type="button" className="button button-quiet" onClick={() => dispatch({ type: 'discard' })}>
                Discard my text
              </button>
            </p>
          )}
          {problem.kind === 'save_failed' && (
            <p className="notice-actions">
              <button type="button" className="button button-quiet" onClick={() => dispatch({ type: 'dismiss' })}>
                Dismiss
              </button>
            </p>
          )}
          {problem.kind === 'lock_lost' && (
            // Acknowledging is the separate step before editing again; it sits away from where Save was.
            <p className="notice-actions">
              <button type="button" className="button" onClick={() => dispatch({ type: 'dismiss' })}>
                OK
              </button>
            </p>
          )}
        </div>
      )}

      {loadError && (
        <p className="inline-error" role="alert">
          {loadError}
        </p>
      )}

      <div className="document-toolbar">
        {state.editing ? (
          <>
            <button
              type="button"
              className="button button-primary"
              onClick={() => void onSaveClick()}
              disabled={busy !== null || state.saving === 'saving' || savePayload(state) === null}
            >
              Save
            </button>
            <button type="button" className="button" onClick={() => void stopEditing()} disabled={busy !== null}>
              Stop Editing
            </button>
            <span
              className={`saving-indicator is-${state.saving}${state.dirty ? ' is-dirty' : ''}`}
              role="status"
              data-testid="saving-indicator"
            >
              {savingLabel(state, (iso) => formatMessageTime(iso))}
            </span>
          </>
        ) : (
          <>
            <button
              type="button"
              className="button button-primary"
              onClick={() => void startEditing()}
              disabled={lockedByOther !== null || busy !== null || !mayStartEditing(state) || !joined}
              title={problem?.kind === 'lock_lost' ? 'Read why your lock was lost above first' : undefined}
            >
              {keptDraft ? 'Edit again' : 'Start Editing'}
            </button>
            {lockedByOther && (
              <button
                type="button"
                className="button"
                onClick={() => void requestEdit()}
                disabled={busy !== null || requestedFrom !== null}
              >
                {requestedFrom ? 'Edit requested' : 'Request edit'}
              </button>
            )}
            {lockedByOther && isAdmin && (
              <button type="button" className="button button-quiet" onClick={() => void forceRelease()} disabled={busy !== null}>
                Release lock
              </button>
            )}
            {takeOverOffer && (
              <button type="button" className="button" onClick={() => void startEditing(true)} disabled={busy !== null}>
                Take over here
              </button>
            )}
          </>
        )}
        <button type="button" className="button button-quiet" aria-expanded={showHistory} onClick={() => setShowHistory((v) => !v)}>
          {showHistory ? 'Hide history' : 'History'}
        </button>
      </div>
      {requestedFrom && (
        <p className="muted small" role="status">
          Asked {requestedFrom} to let you edit.
        </p>
      )}
      {actionError && (
        <p className="inline-error" role="alert">
          {actionError}
        </p>
      )}

      {state.editing ? (
        <div className="editor">
          <label htmlFor={editorId} className="field-label">
            Content (Markdown)
          </label>
          <textarea
            id={editorId}
            className="editor-input"
            value={state.draft}
            onChange={(e) => dispatch({ type: 'typed', text: e.target.value })}
            spellCheck
            rows={18}
          />
        </div>
      ) : content === null ? (
        <p className="muted" role="status">
          Loading the document…
        </p>
      ) : (
        <>
          {keptDraft && <p className="field-label">Saved version (v{state.version})</p>}
          <MarkdownPreview content={content} />
        </>
      )}

      {keptDraft && (
        <div className="kept-draft">
          <label htmlFor={`${editorId}-kept`} className="field-label">
            Your unsaved text
          </label>
          <textarea id={`${editorId}-kept`} className="editor-input" value={state.draft} readOnly rows={8} />
          <p className="notice-actions">
            <button type="button" className="button button-quiet" onClick={() => dispatch({ type: 'discard' })}>
              Discard my text
            </button>
          </p>
        </div>
      )}

      {showHistory && (
        <VersionHistory
          documentId={doc.id}
          title={doc.title}
          currentVersion={state.version}
          currentContent={state.content}
          push={push}
          canRestore={state.editing}
          hasUnsavedText={state.dirty}
          onRestored={(version, restored) => dispatch({ type: 'restored', version, content: restored })}
        />
      )}
    </section>
  );
}
