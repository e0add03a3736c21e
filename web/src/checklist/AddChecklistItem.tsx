import type { ChecklistReply, RoomSnapshot } from '@siteflow/contracts';
import { CHECKLIST_TITLE_MAX } from '@siteflow/contracts/constants';
import { useId, useRef, useState } from 'react';
import { describeActionError } from '../realtime/actionError.js';
import { RetryKeys } from '../realtime/retryKeys.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { checklistTitleProblem } from './checklistState.js';

interface Props {
  joined: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  onReplaced: (checklist: ChecklistReply) => void;
  /** Shows (or, with null, clears) the panel's error line. */
  showError: (error: string | null) => void;
}

/** The admins' form that adds an item at the end of the checklist. */
export function AddChecklistItem({ joined, push, onReplaced, showError }: Props) {
  const [title, setTitle] = useState('');
  const [adding, setAdding] = useState(false);
  // Adding the same title again after a failure is a retry, not a second item.
  const keys = useRef(new RetryKeys());
  const inputId = useId();

  const add = async () => {
    const trimmed = title.trim();
    const problem = checklistTitleProblem(trimmed);
    if (problem) {
      showError(problem);
      return;
    }
    setAdding(true);
    showError(null);
    try {
      onReplaced(await push('checklist:add_item', { title: trimmed }, { idempotencyKey: keys.current.keyFor(trimmed) }));
      keys.current.succeeded(trimmed);
      setTitle('');
    } catch (err) {
      showError(describeActionError('The item was not added', err));
    } finally {
      setAdding(false);
    }
  };

  return (
    <form
      className="checklist-add"
      onSubmit={(e) => {
        e.preventDefault();
        void add();
      }}
    >
      <label htmlFor={inputId} className="field-label">
        New checklist item
      </label>
      <div className="inline-field">
        <input
          id={inputId}
          type="text"
          value={title}
          maxLength={CHECKLIST_TITLE_MAX}
          onChange={(e) => {
            setTitle(e.target.value);
          }}
          placeholder="e.g. Agree on the launch date"
        />
        <button type="submit" className="button" disabled={adding || !joined}>
          {adding ? 'Adding…' : 'Add item'}
        </button>
      </div>
    </form>
  );
}
