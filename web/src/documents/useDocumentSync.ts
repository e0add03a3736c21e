import type { RoomSnapshot } from '@siteflow/contracts';
import { useEffect, useRef, useState, type Dispatch, type RefObject } from 'react';
import { asChannelError, describeActionError } from '../realtime/actionError.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { useToast } from '../ui/Toaster.js';
import type { DocumentLock } from './documentsState.js';
import {
  ELSEWHERE,
  hasContent,
  rejoinStep,
  startEditingPayload,
  takenOverElsewhere,
  unlockEndsMyEdit,
  withContent,
  type EditorAction,
  type EditorState,
} from './editorState.js';
import { updateNoticeDue, updateNoticeText, type UpdateNoticeSeen } from './updateNotices.js';

type Push = ChannelApi<RoomSnapshot>['push'];

/**
 * Reads the document's content on open and after every (re)join (a new `epoch`): what happened
 * while offline is shown, the draft kept. Returns why the last read failed, if it did.
 */
export function useDocumentContent(documentId: number, epoch: number, joined: boolean, push: Push, dispatch: Dispatch<EditorAction>) {
  const [loadError, setLoadError] = useState<string | null>(null);
  useEffect(() => {
    if (!joined) return;
    let live = true;
    push('document:get', { document_id: documentId })
      .then((d) => {
        if (!live) return;
        setLoadError(null);
        dispatch({ type: 'loaded', content: d.content, version: d.version });
      })
      .catch((e: unknown) => {
        if (live) setLoadError(describeActionError('Could not load the document', e));
      });
    return () => {
      live = false;
    };
  }, [documentId, epoch, joined, push, dispatch]);
  return loadError;
}

interface LockRetake {
  documentId: number;
  /** The lock as the latest snapshot shows it. */
  lock: DocumentLock | null;
  selfId: number;
  epoch: number;
  push: Push;
  stateRef: RefObject<EditorState>;
  dispatch: Dispatch<EditorAction>;
}

/**
 * After a rejoin (a new `epoch`), an editor takes its lock back for this connection or learns it
 * lost it (`rejoinStep`). Returns whether a re-take is in flight: its own `document:locked` may
 * overtake its reply, and must not read as a take-over from elsewhere.
 */
export function useLockRetake({ documentId, lock, selfId, epoch, push, stateRef, dispatch }: LockRetake): RefObject<boolean> {
  const seenEpoch = useRef(epoch);
  const retaking = useRef(false);
  useEffect(() => {
    // Only a new snapshot triggers this; the lock read is the one that snapshot brought.
    if (seenEpoch.current === epoch) return;
    seenEpoch.current = epoch;
    const step = rejoinStep(stateRef.current, lock, selfId);
    if (step.kind === 'none') return;
    if (step.kind === 'lost') {
      dispatch({ type: 'lock_lost', why: step.why });
      return;
    }
    retaking.current = true;
    push('document:start_editing', startEditingPayload(documentId, step.takeOver))
      .then((reply) => dispatch({ type: 'lock_retaken', lockedAt: reply.locked_at }))
      .catch((e: unknown) => dispatch({ type: 'lock_lost', why: asChannelError(e).reason }))
      .finally(() => {
        retaking.current = false;
      });
  }, [epoch, lock, selfId, documentId, push, stateRef, dispatch]);
  return retaking;
}

interface DocumentBroadcasts {
  documentId: number;
  selfId: number;
  /** Reads a document whose update came without its content (`withContent`). */
  push: Push;
  on: ChannelApi<RoomSnapshot>['on'];
  /** The user's own `user:<id>` channel: lock revocations arrive there. */
  subscribeUser: ChannelApi<unknown>['on'];
  stateRef: RefObject<EditorState>;
  dispatch: Dispatch<EditorAction>;
  retakingRef: RefObject<boolean>;
  /** The latest title, for notices. */
  titleRef: RefObject<string>;
  /** The document's lock was released (by anyone). */
  onUnlockedRef: RefObject<() => void>;
}

/** The room's broadcasts about this document: saves by others, lock changes, a revocation of my lock. */
export function useDocumentBroadcasts(props: DocumentBroadcasts): void {
  const { documentId, selfId, push, on, subscribeUser, stateRef, dispatch, retakingRef, titleRef, onUnlockedRef } = props;
  const toast = useToast();
  const lastUpdateNotice = useRef<UpdateNoticeSeen | undefined>(undefined);
  useEffect(() => {
    let live = true;
    const offs = [
      on('document:updated', (p) => {
        if (p.document_id !== documentId) return;
        const before = stateRef.current;
        if (hasContent(p)) dispatch({ type: 'remote_update', payload: p, selfId });
        else
          void withContent(p, (id) => push('document:get', { document_id: id })).then((update) => {
            if (live && update) dispatch({ type: 'remote_update', payload: update, selfId });
          });
        if (p.updated_by_id !== selfId && p.version > before.version) {
          const now = Date.now();
          const due = updateNoticeDue(lastUpdateNotice.current, p.updated_by_id, now);
          lastUpdateNotice.current = { userId: p.updated_by_id, at: now };
          if (due) toast({ key: `updated:${documentId}`, text: updateNoticeText(p.updated_by, titleRef.current, p.version), tone: 'info' });
        }
      }),
      on('document:locked', (p) => {
        if (p.document_id !== documentId || !stateRef.current.editing) return;
        if (p.user_id !== selfId) dispatch({ type: 'lock_lost', why: `${p.username} is editing it now` });
        else if (!retakingRef.current && takenOverElsewhere(p, stateRef.current, selfId)) dispatch({ type: 'lock_lost', why: ELSEWHERE });
      }),
      on('document:unlocked', (p) => {
        const why = unlockEndsMyEdit(p, stateRef.current, selfId);
        if (why) dispatch({ type: 'lock_lost', why });
        if (p.document_id === documentId) onUnlockedRef.current();
      }),
      subscribeUser('document:lock_revoked', (p) => {
        if (p.document_id !== documentId) return;
        dispatch({ type: 'lock_lost', why: `${p.by_username} released it${p.reason ? `: ${p.reason}` : ''}` });
      }),
    ];
    return () => {
      live = false;
      offs.forEach((off) => {
        off();
      });
    };
  }, [push, on, subscribeUser, documentId, selfId, toast, stateRef, dispatch, retakingRef, titleRef, onUnlockedRef]);
}
