import type { RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useState, type Dispatch, type RefObject } from 'react';
import { asChannelError, describeActionError, lockRefusal } from '../realtime/actionError.js';
import type { ChannelError } from '../realtime/channelError.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import type { DocumentLock } from './documentsState.js';
import { startEditingPayload, type EditorAction, type EditorState } from './editorState.js';
import type { SaveDraft } from './useEditorSession.js';

/** The action under way: its button and the others wait for it. */
export type Busy = null | 'start' | 'stop' | 'request' | 'save' | 'release';

/**
 * One action at a time: `run` marks it busy, clears the last action's error, and on a refusal
 * shows `failure` with the reason (undefined is then the result).
 */
function useActionRunner() {
  const [busy, setBusy] = useState<Busy>(null);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    async <T>(kind: Exclude<Busy, null>, failure: string, action: () => Promise<T>, onError?: (e: ChannelError) => void) => {
      setBusy(kind);
      setError(null);
      try {
        return await action();
      } catch (e) {
        onError?.(asChannelError(e));
        setError(describeActionError(failure, e));
        return undefined;
      } finally {
        setBusy(null);
      }
    },
    [],
  );
  return { busy, setBusy, error, run };
}

interface EditActions {
  documentId: number;
  /** Another user's lock on the document, or null. */
  lockedByOther: DocumentLock | null;
  push: ChannelApi<RoomSnapshot>['push'];
  stateRef: RefObject<EditorState>;
  dispatch: Dispatch<EditorAction>;
  save: SaveDraft;
  onClose: () => void;
}

/** What the person at the document can do: edit, stop, save, close, ask the holder, release (admins). */
export function useEditActions({ documentId, lockedByOther, push, stateRef, dispatch, save, onClose }: EditActions) {
  const { busy, setBusy, error, run } = useActionRunner();
  const [takeOverOffer, setTakeOverOffer] = useState(false);
  const [requestedFrom, setRequestedFrom] = useState<string | null>(null);

  const startEditing = async (takeOver = false) => {
    await run(
      'start',
      'Could not start editing',
      async () => {
        const reply = await push('document:start_editing', startEditingPayload(documentId, takeOver));
        setTakeOverOffer(false);
        dispatch({ type: 'edit_started', lockedAt: reply.locked_at });
      },
      // Another window of mine holds it: this one may take it over.
      (err) => {
        setTakeOverOffer(lockRefusal(err)?.sameUser === true);
      },
    );
  };

  // Unsaved text is saved before the lock goes; if that fails, editing goes on.
  const stopEditing = async (): Promise<boolean> =>
    (await run('stop', 'Could not stop editing', async () => {
      if (stateRef.current.dirty && !(await save('manual'))) return false;
      await push('document:stop_editing', { document_id: documentId }).catch((e: unknown) => {
        // A lock that is already gone is stopped editing all the same.
        if (asChannelError(e).code !== 'not_lock_holder') throw e;
      });
      dispatch({ type: 'stopped' });
      return true;
    })) ?? false;

  // Leaving the document ends the edit properly (save, release); kept text is only dropped on request.
  const close = async () => {
    if (stateRef.current.editing && !(await stopEditing())) return;
    if (stateRef.current.dirty && !window.confirm('Your unsaved text of this document will be lost. Close it anyway?')) return;
    onClose();
  };

  const requestEdit = async () => {
    if (!lockedByOther) return;
    const holder = lockedByOther.username;
    await run('request', 'The request was not sent', async () => {
      await push('document:request_edit', { document_id: documentId });
      setRequestedFrom(holder);
    });
  };

  const forceRelease = async () => {
    if (
      !lockedByOther ||
      !window.confirm(`Release ${lockedByOther.username}'s edit lock? Their unsaved text stays with them but cannot be saved.`)
    )
      return;
    await run('release', 'The lock was not released', () =>
      push('document:force_unlock', { document_id: documentId, reason: 'released by an admin from the planning room' }),
    );
  };

  const saveNow = async () => {
    setBusy('save');
    await save('manual');
    setBusy(null);
  };

  return {
    busy,
    error,
    takeOverOffer,
    requestedFrom,
    setRequestedFrom,
    startEditing,
    stopEditing,
    close,
    requestEdit,
    forceRelease,
    saveNow,
  };
}
