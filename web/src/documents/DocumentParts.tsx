import type { Dispatch } from 'react';
import { formatMessageTime } from '../chat/formatTime.js';
import { LockIcon } from '../ui/LockIcon.js';
import { mayStartEditing, problemText, savePayload, savingLabel, type EditorAction, type EditorState } from './editorState.js';
import { MarkdownPreview } from './MarkdownPreview.js';
import type { Busy } from './useEditActions.js';

/** Who holds the lock, when it is not me. */
export function LockedBanner({ username }: { username: string }) {
  return (
    <div className="locked-banner" role="status">
      {/* The emoji is the banner's text; the drawn lock shows where no emoji font is installed. */}
      <LockIcon />
      <span className="visually-hidden">🔒 </span>
      {username} is currently editing this document
    </div>
  );
}

/** What the person must know about their text (a conflict, a refused save, a lost lock) and their choices. */
export function EditorProblemNotice({ state, dispatch }: { state: EditorState; dispatch: Dispatch<EditorAction> }) {
  const { problem } = state;
  if (!problem) return null;
  return (
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
  );
}

interface ToolbarProps {
  state: EditorState;
  busy: Busy;
  joined: boolean;
  isAdmin: boolean;
  /** Another user's name when they hold the lock. */
  holder: string | null;
  requestedFrom: string | null;
  takeOverOffer: boolean;
  showHistory: boolean;
  onSave: () => void;
  onStop: () => void;
  onStart: (takeOver: boolean) => void;
  onRequest: () => void;
  onRelease: () => void;
  onToggleHistory: () => void;
}

/** The document's buttons: Save and Stop while editing; otherwise Start (or take over), Request edit, Release lock; History. */
export function DocumentToolbar(props: ToolbarProps) {
  const { state, busy, joined, isAdmin, holder, requestedFrom, takeOverOffer, showHistory } = props;
  const keptDraft = !state.editing && state.dirty;
  return (
    <div className="document-toolbar">
      {state.editing ? (
        <>
          <button
            type="button"
            className="button button-primary"
            onClick={props.onSave}
            disabled={busy !== null || state.saving === 'saving' || savePayload(state) === null}
          >
            Save
          </button>
          <button type="button" className="button" onClick={props.onStop} disabled={busy !== null}>
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
            onClick={() => {
              props.onStart(false);
            }}
            disabled={holder !== null || busy !== null || !mayStartEditing(state) || !joined}
            title={state.problem?.kind === 'lock_lost' ? 'Read why your lock was lost above first' : undefined}
          >
            {keptDraft ? 'Edit again' : 'Start Editing'}
          </button>
          {holder !== null && (
            <button type="button" className="button" onClick={props.onRequest} disabled={busy !== null || requestedFrom !== null}>
              {requestedFrom ? 'Edit requested' : 'Request edit'}
            </button>
          )}
          {holder !== null && isAdmin && (
            <button type="button" className="button button-quiet" onClick={props.onRelease} disabled={busy !== null}>
              Release lock
            </button>
          )}
          {takeOverOffer && (
            <button
              type="button"
              className="button"
              onClick={() => {
                props.onStart(true);
              }}
              disabled={busy !== null}
            >
              Take over here
            </button>
          )}
        </>
      )}
      <button type="button" className="button button-quiet" aria-expanded={showHistory} onClick={props.onToggleHistory}>
        {showHistory ? 'Hide history' : 'History'}
      </button>
    </div>
  );
}

/** The text: the editor while editing; otherwise the saved version, and below it any text kept from an edit. */
export function DocumentText({ state, editorId, dispatch }: { state: EditorState; editorId: string; dispatch: Dispatch<EditorAction> }) {
  const keptDraft = !state.editing && state.dirty;
  return (
    <>
      {state.editing ? (
        <div className="editor">
          <label htmlFor={editorId} className="field-label">
            Content (Markdown)
          </label>
          <textarea
            id={editorId}
            className="editor-input"
            value={state.draft}
            onChange={(e) => {
              dispatch({ type: 'typed', text: e.target.value });
            }}
            spellCheck
            rows={18}
          />
        </div>
      ) : state.content === null ? (
        <p className="muted" role="status">
          Loading the document…
        </p>
      ) : (
        <>
          {keptDraft && <p className="field-label">Saved version (v{state.version})</p>}
          <MarkdownPreview content={state.content} />
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
    </>
  );
}
