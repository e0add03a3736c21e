import type { ErrorCode, ServerPayload } from '@siteflow/contracts';

/** Something the person at the editor must know about their text. */
export type EditorProblem =
  /**
   * The edit lock is gone (expired, revoked, taken, lost while offline): the text is kept, not
   * saved. `why` is the cause as the person should read it; what it means for their text is said
   * at render time (`problemText`), since a save may still land or the text be discarded.
   */
  | { kind: 'lock_lost'; why: string }
  /** The document moved on under the text: saving would overwrite someone's version. */
  | { kind: 'conflict'; message: string; currentVersion: number }
  /** A save was refused for another reason (too large, unavailable…); editing goes on. */
  | { kind: 'save_failed'; message: string };

/**
 * One open document as its viewer or editor sees it. `content`/`version` are the server's latest
 * known text; `draft` is what the person typed, based on `draftBase`. The draft is only ever
 * replaced by an explicit choice (discard, stop editing after a save, restore) — never by a
 * broadcast, a reconnect or a lost lock.
 */
export interface EditorState {
  documentId: number;
  /** Null until `document:get` answered. */
  content: string | null;
  version: number;
  /** This client holds the edit lock (as far as it knows). */
  editing: boolean;
  draft: string;
  draftBase: number;
  /** The draft differs from what the server holds at `draftBase`. */
  dirty: boolean;
  saving: 'idle' | 'saving' | 'saved' | 'failed';
  lastSavedAt: string | null;
  problem: EditorProblem | null;
  /**
   * When this client's lock was acquired (the service's `locked_at`): a `document:locked` of the
   * same user with another time is another connection of theirs (a second tab) taking over.
   */
  lockedAt: string | null;
}

export type EditorAction =
  | { type: 'loaded'; content: string; version: number }
  | { type: 'edit_started'; lockedAt?: string }
  /** After a rejoin, this client took its lock back (or still had it): the time it holds it since. */
  | { type: 'lock_retaken'; lockedAt: string }
  | { type: 'typed'; text: string }
  | { type: 'save_started' }
  | { type: 'saved'; version: number; content: string; at: string }
  | { type: 'save_failed'; code: ErrorCode; reason: string; currentVersion?: number }
  | { type: 'remote_update'; payload: ServerPayload<'document:updated'>; selfId: number }
  | { type: 'lock_lost'; why: string }
  | { type: 'stopped' }
  | { type: 'restored'; version: number; content: string }
  /** Keep my text and save it over the latest version (after a conflict). */
  | { type: 'rebase' }
  /** Throw my unsaved text away and show the server's version. */
  | { type: 'discard' }
  /** The person read the notice: a refused save's, or a lost lock's (only then may they edit again). */
  | { type: 'dismiss' };

export function openEditor(documentId: number, version: number): EditorState {
  return {
    documentId,
    content: null,
    version,
    editing: false,
    draft: '',
    draftBase: version,
    dirty: false,
    saving: 'idle',
    lastSavedAt: null,
    problem: null,
    lockedAt: null,
  };
}

const conflict = (version: number): EditorProblem => ({
  kind: 'conflict',
  message: `The document changed to version ${version} while you were writing. Your text is kept: save it over the new version, or discard it.`,
  currentVersion: version,
});

export function reduceEditor(state: EditorState, action: EditorAction): EditorState {
  switch (action.type) {
    case 'loaded': {
      if (state.content !== null && action.version < state.version) return state;
      if (!state.dirty) {
        return { ...state, content: action.content, version: action.version, draft: action.content, draftBase: action.version };
      }
      const moved = action.version > state.draftBase && action.content !== state.draft;
      return {
        ...state,
        content: action.content,
        version: action.version,
        problem: moved && state.problem?.kind !== 'lock_lost' ? conflict(action.version) : state.problem,
      };
    }
    case 'edit_started': {
      const lockedAt = action.lockedAt ?? null;
      // A draft kept from a lost lock is edited on; if the document moved meanwhile, say so.
      if (state.dirty) {
        const moved = state.version > state.draftBase;
        return { ...state, editing: true, lockedAt, saving: 'idle', problem: moved ? conflict(state.version) : null };
      }
      return { ...state, editing: true, lockedAt, draft: state.content ?? '', draftBase: state.version, saving: 'idle', problem: null };
    }
    case 'lock_retaken':
      return state.editing ? { ...state, lockedAt: action.lockedAt } : state;
    case 'typed':
      return { ...state, draft: action.text, dirty: action.text !== (state.draftBase === state.version ? state.content : null) };
    case 'save_started':
      return { ...state, saving: 'saving' };
    case 'saved': {
      const version = Math.max(action.version, state.version);
      return {
        ...state,
        content: action.content,
        version,
        draftBase: version,
        // Typing during the save leaves the newer text unsaved.
        dirty: state.draft !== action.content,
        saving: 'saved',
        lastSavedAt: action.at,
        problem: state.problem?.kind === 'save_failed' ? null : state.problem,
      };
    }
    case 'save_failed':
      switch (action.code) {
        case 'version_conflict':
          return {
            ...state,
            saving: 'failed',
            version: Math.max(state.version, action.currentVersion ?? state.version),
            problem: conflict(Math.max(state.version, action.currentVersion ?? state.version)),
          };
        case 'not_lock_holder':
          return { ...state, saving: 'failed', editing: false, lockedAt: null, problem: { kind: 'lock_lost', why: action.reason } };
        default:
          return { ...state, saving: 'failed', problem: { kind: 'save_failed', message: `Not saved: ${action.reason}` } };
      }
    case 'remote_update': {
      const p = action.payload;
      if (p.document_id !== state.documentId || p.version <= state.version) return state;
      // Pushed without its content (`withContent`): nothing to show until the content is read.
      if (!hasContent(p)) return state;
      // While this client holds the lock, a save by the same user is its own save whose
      // broadcast overtook the reply.
      const own = state.editing && p.updated_by_id === action.selfId;
      if (own || !state.dirty) {
        const draft = state.dirty ? state.draft : p.content;
        return { ...state, content: p.content, version: p.version, draftBase: p.version, draft, dirty: draft !== p.content };
      }
      return {
        ...state,
        content: p.content,
        version: p.version,
        problem: state.problem?.kind === 'lock_lost' ? state.problem : conflict(p.version),
      };
    }
    case 'lock_lost':
      if (!state.editing) return state;
      return {
        ...state,
        editing: false,
        lockedAt: null,
        saving: state.saving === 'saving' ? 'idle' : state.saving,
        problem: { kind: 'lock_lost', why: action.why },
      };
    case 'stopped':
      // Stop Editing saves first; whatever is still unsaved stays as a kept draft.
      return {
        ...state,
        editing: false,
        lockedAt: null,
        saving: 'idle',
        draft: state.dirty ? state.draft : (state.content ?? ''),
        problem: state.dirty ? state.problem : null,
      };
    case 'restored':
      return {
        ...state,
        content: action.content,
        version: action.version,
        draft: action.content,
        draftBase: action.version,
        dirty: false,
        saving: 'saved',
        problem: null,
      };
    case 'rebase':
      return { ...state, draftBase: state.version, dirty: state.draft !== state.content, problem: null };
    case 'discard':
      return { ...state, draft: state.content ?? '', draftBase: state.version, dirty: false, saving: 'idle', problem: null };
    case 'dismiss':
      return state.problem?.kind === 'save_failed' || (state.problem?.kind === 'lock_lost' && !state.editing)
        ? { ...state, problem: null }
        : state;
    default: {
      const unhandled: never = action;
      return unhandled;
    }
  }
}

/** The payload of a save of the current draft, or null when there is nothing this client may save. */
export function savePayload(state: EditorState): { document_id: number; content: string; base_version: number } | null {
  if (!state.editing || state.content === null || state.problem?.kind === 'conflict') return null;
  return { document_id: state.documentId, content: state.draft, base_version: state.draftBase };
}

/** Auto-save only writes what changed; a conflict or a running save waits for the person or the reply. */
export const autoSaveDue = (state: EditorState): boolean => state.dirty && state.saving !== 'saving' && savePayload(state) !== null;

/**
 * What the notice of a problem says. A lost lock tells what became of the text as it is now: kept
 * below and unsaved, or all saved (then nothing is below to point at).
 */
export function problemText(state: EditorState): string | null {
  const { problem } = state;
  if (!problem) return null;
  if (problem.kind !== 'lock_lost') return problem.message;
  const lost = `You no longer hold the edit lock (${problem.why}).`;
  return state.dirty
    ? `${lost} Your unsaved text is kept below: edit again to save it, or discard it.`
    : `${lost} Everything you wrote is saved (version ${state.version}).`;
}

/**
 * After a lost lock, nothing takes the lock again until the person has read why it was lost (a
 * click meant for Save, which stood in the same place, must not undo an admin's release).
 */
export const mayStartEditing = (state: EditorState): boolean =>
  !state.editing && state.content !== null && state.problem?.kind !== 'lock_lost';

/**
 * Whether a `document:locked` means another connection of this same user (a second tab or
 * window) took the lock this client holds. Lock broadcasts name the user, not the connection, but
 * a take-over is a new acquisition with a new `locked_at`, while this client's own re-acquisition
 * keeps its time.
 */
export function takenOverElsewhere(payload: ServerPayload<'document:locked'>, state: EditorState, selfId: number): boolean {
  return (
    state.editing &&
    payload.document_id === state.documentId &&
    payload.user_id === selfId &&
    state.lockedAt !== null &&
    !sameInstant(payload.locked_at, state.lockedAt)
  );
}

/** Two ISO times of the same instant, however each was written (reply, broadcast, snapshot). */
export const sameInstant = (a: string, b: string): boolean => Date.parse(a) === Date.parse(b);

/** The cause a lock lost to another tab of the same user is shown with. */
export const ELSEWHERE = 'you took it over in another tab or window';

/** What the saving indicator says. */
export function savingLabel(state: EditorState, formatTime: (iso: string) => string): string {
  if (state.saving === 'saving') return 'Saving…';
  if (state.saving === 'failed') return 'Not saved';
  if (state.dirty) return 'Unsaved changes';
  if (state.lastSavedAt) return `Saved ${formatTime(state.lastSavedAt)}`;
  return 'No changes';
}

/** Why an unlock of this document, seen by the editor holding it, means the lock is gone (the cause, or null). */
export function unlockEndsMyEdit(payload: ServerPayload<'document:unlocked'>, state: EditorState, selfId: number): string | null {
  if (!state.editing || payload.document_id !== state.documentId || payload.user_id !== selfId) return null;
  switch (payload.reason) {
    case 'expired':
      return 'the lock expired';
    case 'revoked':
      return 'an admin released it';
    // `released`/`disconnected` of this user may be an earlier connection of theirs (a take-over).
    default:
      return null;
  }
}

/** The payload of `document:start_editing`; `takeOver` takes the lock from another connection of the same user. */
export const startEditingPayload = (documentId: number, takeOver: boolean): { document_id: number; take_over?: true } =>
  takeOver ? { document_id: documentId, take_over: true } : { document_id: documentId };

/** What an editor does about its lock after a rejoin, given the lock the new snapshot shows. */
export type RejoinStep = { kind: 'none' } | { kind: 'lost'; why: string } | { kind: 'retake'; takeOver: boolean };

/**
 * After a rejoin the old connection's lock is gone or dying: an editor takes it back for this
 * connection (taking over from its own old connection when the snapshot still shows it), or learns
 * who has it now. A lock of the same user with another start time is another tab's, not this
 * tab's old connection's. The draft stays either way.
 */
export function rejoinStep(
  state: EditorState,
  lock: { user_id: number; username: string; locked_at: string } | null,
  selfId: number,
): RejoinStep {
  if (!state.editing) return { kind: 'none' };
  if (lock !== null && lock.user_id !== selfId) return { kind: 'lost', why: `${lock.username} is editing it now` };
  if (lock !== null && state.lockedAt !== null && !sameInstant(lock.locked_at, state.lockedAt)) return { kind: 'lost', why: ELSEWHERE };
  return { kind: 'retake', takeOver: lock !== null };
}

/**
 * One idempotency intent per save of a text on a base version: saving the same text on the same
 * base again after a failure is a retry, answered as the first was (not a version_conflict against itself).
 */
export const saveIntent = (kind: 'manual' | 'auto', payload: { content: string; base_version: number }): string =>
  `${kind}:${payload.base_version}:${payload.content}`;

/** Whether a `document:updated` came with its content (see `withContent`). */
export const hasContent = (payload: ServerPayload<'document:updated'>): boolean => typeof (payload.content as unknown) === 'string';

/**
 * A `document:updated` with its content, for the editor. The documents service names the content
 * in the event's data and the gateway puts it into the push (`Broadcast.payload_from_data`); a
 * gateway of the release before that pushes the update without it (during a rollout that upgraded
 * documents first). Then the content is read (`document:get`, which may already be a later
 * version: its own version goes with it). Null if that read failed: the text on screen stays as
 * it was until the next update or rejoin, and `remote_update` ignores whatever is not newer.
 */
export async function withContent(
  payload: ServerPayload<'document:updated'>,
  read: (documentId: number) => Promise<{ content: string; version: number }>,
): Promise<ServerPayload<'document:updated'> | null> {
  if (hasContent(payload)) return payload;
  try {
    const doc = await read(payload.document_id);
    return { ...payload, content: doc.content, version: doc.version };
  } catch {
    return null;
  }
}
