import type { RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useEffect, useId, useReducer, useRef, useState } from 'react';
import type { ChannelApi } from '../realtime/useChannel.js';
import { useToast } from '../ui/Toaster.js';
import { useLatest } from '../ui/useLatest.js';
import { DocumentText, DocumentToolbar, EditorProblemNotice, LockedBanner } from './DocumentParts.js';
import type { RoomDocument } from './documentsState.js';
import { openEditor, reduceEditor } from './editorState.js';
import { useEditActions } from './useEditActions.js';
import { useDocumentBroadcasts, useDocumentContent, useLockRetake } from './useDocumentSync.js';
import {
  useAutoSave,
  useEditorShortcuts,
  useLockLease,
  useSaveDraft,
  useUnsavedWorkGuard,
  type SavedDocument,
} from './useEditorSession.js';
import { VersionHistory } from './VersionHistory.js';

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
  onSaved: (saved: SavedDocument) => void;
}

/** One open document: its text, its lock, saving and history (docs/presence-and-locks.md). */
export function DocumentView({ doc, selfId, isAdmin, room, subscribeUser, epoch, onClose, onSaved }: Props) {
  const [state, dispatch] = useReducer(reduceEditor, undefined, () => openEditor(doc.id, doc.version));
  const stateRef = useLatest(state);
  const { push, on, joined } = room;
  const [showHistory, setShowHistory] = useState(false);
  const editorId = useId();
  const headingId = useId();
  const lockedByOther = doc.lock !== null && doc.lock.user_id !== selfId ? doc.lock : null;

  // Opening a document moves keyboard focus to it, as following a link would.
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);

  const loadError = useDocumentContent(doc.id, epoch, joined, push, dispatch);
  const retakingRef = useLockRetake({ documentId: doc.id, lock: doc.lock, selfId, epoch, push, stateRef, dispatch });
  const onSavedRef = useLatest(onSaved);
  const save = useSaveDraft(doc.id, push, stateRef, dispatch, onSavedRef);
  const actions = useEditActions({ documentId: doc.id, lockedByOther, push, stateRef, dispatch, save, onClose });
  const { busy, requestedFrom, setRequestedFrom, startEditing } = actions;
  useAutoSave(state, joined, stateRef, save);
  useLockLease(doc.id, state.editing, joined, push, dispatch);
  useUnsavedWorkGuard(state.dirty, doc.title);
  const commands = useLatest({ save: actions.saveNow, stop: actions.stopEditing, busy: busy !== null });
  useEditorShortcuts(doc.id, state.editing, commands);

  // Whoever asked for the lock hears that it is free, with the way to take it.
  const toast = useToast();
  const startEditingRef = useLatest(startEditing);
  const onUnlocked = useCallback(() => {
    if (requestedFrom !== null) {
      toast({
        key: `free:${doc.id}`,
        tone: 'info',
        text: `${doc.title} is free to edit now`,
        action: { label: 'Start editing', run: () => void startEditingRef.current() },
      });
    }
    setRequestedFrom(null);
  }, [requestedFrom, setRequestedFrom, startEditingRef, toast, doc.id, doc.title]);
  const onUnlockedRef = useLatest(onUnlocked);
  const titleRef = useLatest(doc.title);
  useDocumentBroadcasts({
    documentId: doc.id,
    selfId,
    push,
    on,
    subscribeUser,
    stateRef,
    dispatch,
    retakingRef,
    titleRef,
    onUnlockedRef,
  });

  return (
    <section className="panel document-view" aria-labelledby={headingId} data-document-id={doc.id}>
      <div className="document-view-header">
        <button type="button" className="button button-quiet back-button" onClick={() => void actions.close()} disabled={busy !== null}>
          <span aria-hidden="true">←</span> All documents
        </button>
        <h2 id={headingId} ref={headingRef} tabIndex={-1} className="panel-title document-view-title">
          {doc.title} <span className="count">v{state.version}</span>
        </h2>
      </div>

      {lockedByOther && <LockedBanner username={lockedByOther.username} />}
      <EditorProblemNotice state={state} dispatch={dispatch} />
      {loadError && (
        <p className="inline-error" role="alert">
          {loadError}
        </p>
      )}

      <DocumentToolbar
        state={state}
        busy={busy}
        joined={joined}
        isAdmin={isAdmin}
        holder={lockedByOther?.username ?? null}
        requestedFrom={requestedFrom}
        takeOverOffer={actions.takeOverOffer}
        showHistory={showHistory}
        onSave={() => void actions.saveNow()}
        onStop={() => void actions.stopEditing()}
        onStart={(takeOver) => void startEditing(takeOver)}
        onRequest={() => void actions.requestEdit()}
        onRelease={() => void actions.forceRelease()}
        onToggleHistory={() => {
          setShowHistory((v) => !v);
        }}
      />
      {requestedFrom && (
        <p className="muted small" role="status">
          Asked {requestedFrom} to let you edit.
        </p>
      )}
      {actions.error && (
        <p className="inline-error" role="alert">
          {actions.error}
        </p>
      )}

      <DocumentText state={state} editorId={editorId} dispatch={dispatch} />

      {showHistory && (
        <VersionHistory
          documentId={doc.id}
          title={doc.title}
          currentVersion={state.version}
          currentContent={state.content}
          push={push}
          canRestore={state.editing}
          hasUnsavedText={state.dirty}
          onRestored={(version, restored) => {
            dispatch({ type: 'restored', version, content: restored });
          }}
        />
      )}
    </section>
  );
}
