import type { RoomSnapshot } from '@siteflow/contracts';
import { useId, useRef, useState, type SubmitEvent } from 'react';
import { describeActionError } from '../realtime/actionError.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { PROJECT_NAME_MAX } from '@siteflow/contracts/constants';
import { projectNameProblem } from './projectStatus.js';

interface Props {
  name: string;
  joined: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
}

/**
 * Admins rename the project in place; everyone sees the new name through `project:updated`. A
 * refusal keeps the typed name, Escape cancels.
 */
export function ProjectNameControl({ name, joined, push }: Props) {
  const [draft, setDraft] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const errorId = useId();
  const renameButton = useRef<HTMLButtonElement>(null);

  const close = () => {
    setDraft(null);
    setError(null);
    // Focus returns to where the rename started.
    requestAnimationFrame(() => renameButton.current?.focus());
  };

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    if (draft === null) return;
    const problem = projectNameProblem(draft);
    if (problem) {
      setError(problem);
      return;
    }
    if (draft.trim() === name) {
      close();
      return;
    }
    setSaving(true);
    setError(null);
    try {
      await push('project:update', { name: draft.trim() });
      close();
    } catch (err) {
      setError(describeActionError('The project was not renamed', err));
    } finally {
      setSaving(false);
    }
  };

  if (draft === null) {
    return (
      <button
        ref={renameButton}
        type="button"
        className="button button-quiet button-small project-rename"
        onClick={() => setDraft(name)}
        disabled={!joined}
      >
        Rename
      </button>
    );
  }
  return (
    <form className="project-rename-form" onSubmit={(e) => void submit(e)} aria-busy={saving}>
      <div className="inline-field">
        <input
          type="text"
          value={draft}
          maxLength={PROJECT_NAME_MAX}
          aria-label="Project name"
          aria-invalid={error !== null}
          aria-describedby={error ? errorId : undefined}
          onChange={(e) => {
            setDraft(e.target.value);
            setError(null);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.preventDefault();
              close();
            }
          }}
          autoFocus
        />
        <button type="submit" className="button button-small" disabled={saving || !joined}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="button button-quiet button-small" onClick={close}>
          Cancel
        </button>
      </div>
      {error && (
        <p id={errorId} className="inline-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
