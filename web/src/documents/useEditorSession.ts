import type { RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useEffect, useRef, type Dispatch, type RefObject } from 'react';
import { holdUnsavedWork } from '../app/unsavedWork.js';
import { asChannelError, currentVersionOf } from '../realtime/actionError.js';
import { RetryKeys } from '../realtime/retryKeys.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { editorShortcut } from './editorKeys.js';
import { autoSaveDue, saveIntent, savePayload, type EditorAction, type EditorState } from './editorState.js';
import { holdEditSession } from './editSessions.js';

type Push = ChannelApi<RoomSnapshot>['push'];

/** Auto-save 2 s after typing stops, and every 10 s during continuous typing (docs/presence-and-locks.md). */
const AUTO_SAVE_IDLE_MS = 2_000;
const AUTO_SAVE_EVERY_MS = 10_000;
/** Lease renewal while editing, well inside the service's lease. */
const HEARTBEAT_MS = 30_000;

/** What a save of this client's told the room: its version, time and text. */
export type SavedDocument = { document_id: number; version: number; updated_at: string; content: string };
export type SaveDraft = (kind: 'manual' | 'auto') => Promise<boolean>;

/**
 * Saves the draft: one save at a time, retried under the same idempotency key while it has not
 * gone through. Resolves true when nothing is left unsaved by it (saved, or nothing to save).
 */
export function useSaveDraft(
  documentId: number,
  push: Push,
  stateRef: RefObject<EditorState>,
  dispatch: Dispatch<EditorAction>,
  onSavedRef: RefObject<(saved: SavedDocument) => void>,
): SaveDraft {
  const inFlight = useRef(false);
  const keys = useRef(new RetryKeys());
  return useCallback(
    async (kind: 'manual' | 'auto'): Promise<boolean> => {
      const s = stateRef.current;
      const payload = savePayload(s);
      if (!payload || inFlight.current) return false;
      if (!s.dirty) return true;
      inFlight.current = true;
      dispatch({ type: 'save_started' });
      try {
        const intent = saveIntent(kind, payload);
        const reply = await push(kind === 'auto' ? 'document:auto_save' : 'document:save', payload, {
          idempotencyKey: keys.current.keyFor(intent),
        });
        keys.current.succeeded(intent);
        dispatch({ type: 'saved', version: reply.version, content: payload.content, at: reply.updated_at });
        if (reply.saved)
          onSavedRef.current({ document_id: documentId, version: reply.version, updated_at: reply.updated_at, content: payload.content });
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
        inFlight.current = false;
      }
    },
    [push, documentId, stateRef, dispatch, onSavedRef],
  );
}

/** Auto-save while editing: after a pause in typing, and regularly while typing never pauses. */
export function useAutoSave(editor: EditorState, joined: boolean, stateRef: RefObject<EditorState>, save: SaveDraft): void {
  const { editing, dirty, draft } = editor;
  useEffect(() => {
    if (!editing || !dirty || !joined) return;
    const timer = window.setTimeout(() => void save('auto'), AUTO_SAVE_IDLE_MS);
    return () => {
      window.clearTimeout(timer);
    };
  }, [draft, editing, dirty, joined, save]);

  useEffect(() => {
    if (!editing || !joined) return;
    const timer = window.setInterval(() => {
      if (autoSaveDue(stateRef.current)) void save('auto');
    }, AUTO_SAVE_EVERY_MS);
    return () => {
      window.clearInterval(timer);
    };
  }, [editing, joined, save, stateRef]);
}

/** Renews the lock's lease while editing; a refusal means the lock is gone. */
export function useLockLease(documentId: number, editing: boolean, joined: boolean, push: Push, dispatch: Dispatch<EditorAction>): void {
  useEffect(() => {
    if (!editing || !joined) return;
    const timer = window.setInterval(() => {
      push('document:heartbeat', { document_id: documentId }).catch((e: unknown) => {
        const err = asChannelError(e);
        if (err.code === 'not_lock_holder' || err.code === 'not_found') dispatch({ type: 'lock_lost', why: err.reason });
      });
    }, HEARTBEAT_MS);
    return () => {
      window.clearInterval(timer);
    };
  }, [editing, joined, push, documentId, dispatch]);
}

/** With unsaved text, closing the tab makes the browser ask first; signing out makes the app ask. */
export function useUnsavedWorkGuard(dirty: boolean, title: string): void {
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
    };
    window.addEventListener('beforeunload', onBeforeUnload);
    const release = holdUnsavedWork(() => `“${title}”`);
    return () => {
      window.removeEventListener('beforeunload', onBeforeUnload);
      release();
    };
  }, [dirty, title]);
}

/** What the editor's shortcuts and an edit request's "Hand over" run, as they are now. */
export interface EditorCommands {
  save: () => Promise<void>;
  stop: () => Promise<boolean>;
  busy: boolean;
}

/**
 * While editing: Ctrl/⌘+S and Escape wherever the focus is in the page (Escape only from within
 * the document: chat and checklist use it too), and an edit request's "Hand over", which ends
 * this edit as Stop Editing does.
 */
export function useEditorShortcuts(documentId: number, editing: boolean, commandsRef: RefObject<EditorCommands>): void {
  useEffect(() => {
    if (!editing) return;
    return holdEditSession(documentId, () => commandsRef.current.stop());
  }, [editing, documentId, commandsRef]);

  useEffect(() => {
    if (!editing) return;
    const onKeyDown = (e: KeyboardEvent) => {
      const action = editorShortcut(e);
      if (!action || e.defaultPrevented) return;
      if (action === 'stop' && !(e.target instanceof Element && (e.target === document.body || e.target.closest('.document-view')))) return;
      e.preventDefault();
      if (commandsRef.current.busy) return;
      void (action === 'save' ? commandsRef.current.save() : commandsRef.current.stop());
    };
    window.addEventListener('keydown', onKeyDown);
    return () => {
      window.removeEventListener('keydown', onKeyDown);
    };
  }, [editing, commandsRef]);
}
