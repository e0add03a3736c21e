import type { ProjectMember } from '@siteflow/contracts';
import { CHECKLIST_TITLE_MAX } from '@siteflow/contracts/constants';
import type { KeyboardEvent } from 'react';
import { formatMessageTime } from '../chat/formatTime.js';
import { memberName } from '../room/members.js';
import { tickedBy, type RoomChecklistItem } from './checklistState.js';
import type { TitleEdit } from './useChecklistActions.js';

/** "Ticked by bob, 14:05" under a ticked item. */
const tickedLine = (item: RoomChecklistItem, members: readonly ProjectMember[] | undefined) =>
  tickedBy(item.checked_by_name ?? memberName(members, item.checked_by), item.checked_at ? formatMessageTime(item.checked_at) : null);

interface Props {
  item: RoomChecklistItem;
  /** What the box shows: a toggle waiting for its reply shows at once. */
  checked: boolean;
  pending: boolean;
  joined: boolean;
  members: readonly ProjectMember[] | undefined;
  /** Admins' controls, or null for everyone else. */
  admin: {
    /** The rename under way of this item, if any. */
    edit: TitleEdit | null;
    isFirst: boolean;
    isLast: boolean;
    moving: boolean;
    onMove: (offset: -1 | 1) => void;
    onStartEdit: () => void;
    onEditDraft: (draft: string) => void;
    onSaveEdit: () => void;
    onCancelEdit: () => void;
    onRemove: () => void;
  } | null;
  onToggle: (checked: boolean) => void;
}

/** One checklist item: its box and title; for admins, rename, move and remove. */
export function ChecklistItemRow({ item, checked, pending, joined, members, admin, onToggle }: Props) {
  const boxId = `check-${item.id}`;
  const editing = admin?.edit ?? null;
  return (
    <li className={`checklist-item${checked ? ' is-checked' : ''}`} data-item-id={item.id}>
      <input
        id={boxId}
        type="checkbox"
        className="check-input"
        checked={checked}
        disabled={!joined}
        aria-busy={pending}
        // While the title is an input, the label is gone: the box keeps its name.
        aria-label={editing ? item.title : undefined}
        onChange={(e) => {
          if (!pending) onToggle(e.target.checked);
        }}
      />
      {admin && editing ? (
        <TitleEditor
          item={item}
          edit={editing}
          joined={joined}
          onDraft={admin.onEditDraft}
          onSave={admin.onSaveEdit}
          onCancel={admin.onCancelEdit}
        />
      ) : (
        <label htmlFor={boxId} className="checklist-text">
          <span className="checklist-title">{item.title}</span>
          {item.description && <span className="checklist-description">{item.description}</span>}
          {checked && item.checked && <span className="checklist-byline">{tickedLine(item, members)}</span>}
        </label>
      )}
      {admin && !editing && (
        <div className="checklist-actions">
          <button
            type="button"
            className="button button-quiet button-small checklist-move"
            data-control="up"
            onClick={() => {
              admin.onMove(-1);
            }}
            disabled={!joined || admin.isFirst}
            aria-disabled={admin.moving || undefined}
            aria-label={`Move ${item.title} up`}
            title="Move up"
          >
            <span aria-hidden="true">↑</span>
          </button>
          <button
            type="button"
            className="button button-quiet button-small checklist-move"
            data-control="down"
            onClick={() => {
              admin.onMove(1);
            }}
            disabled={!joined || admin.isLast}
            aria-disabled={admin.moving || undefined}
            aria-label={`Move ${item.title} down`}
            title="Move down"
          >
            <span aria-hidden="true">↓</span>
          </button>
          <button
            type="button"
            className="button button-quiet button-small"
            data-control="edit"
            onClick={admin.onStartEdit}
            disabled={!joined}
            aria-label={`Edit ${item.title}`}
          >
            <span aria-hidden="true">✎</span> Edit
          </button>
          <button
            type="button"
            className="button button-quiet button-small checklist-remove"
            onClick={admin.onRemove}
            disabled={!joined || pending}
            aria-label={`Remove ${item.title}`}
          >
            Remove
          </button>
        </div>
      )}
    </li>
  );
}

interface TitleEditorProps {
  item: RoomChecklistItem;
  edit: TitleEdit;
  joined: boolean;
  onDraft: (draft: string) => void;
  onSave: () => void;
  onCancel: () => void;
}

/** The rename form in place of an item's title; Escape cancels. */
function TitleEditor({ item, edit, joined, onDraft, onSave, onCancel }: TitleEditorProps) {
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      onCancel();
    }
  };
  return (
    <form
      className="checklist-edit"
      onSubmit={(e) => {
        e.preventDefault();
        onSave();
      }}
      aria-busy={edit.saving}
    >
      <div className="inline-field">
        <input
          type="text"
          value={edit.draft}
          maxLength={CHECKLIST_TITLE_MAX}
          onChange={(e) => {
            onDraft(e.target.value);
          }}
          onKeyDown={onKeyDown}
          aria-label={`New title for ${item.title}`}
          aria-invalid={edit.error !== null}
          aria-describedby={edit.error ? `edit-error-${item.id}` : undefined}
          autoFocus
        />
        <button type="submit" className="button button-small" disabled={edit.saving || !joined}>
          {edit.saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="button button-quiet button-small" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {edit.error && (
        <p id={`edit-error-${item.id}`} className="inline-error" role="alert">
          {edit.error}
        </p>
      )}
      {item.description && <span className="checklist-description">{item.description}</span>}
    </form>
  );
}
