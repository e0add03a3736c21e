import type { ChecklistReply, ProjectMember, RoomSnapshot, ToggleReply } from '@siteflow/contracts';
import { formatMessageTime } from '../chat/formatTime.js';
import { memberName } from '../room/members.js';
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { describeActionError } from '../realtime/actionError.js';
import { RetryKeys } from '../realtime/retryKeys.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { CHECKLIST_TITLE_MAX } from '@siteflow/contracts/constants';
import { checklistTitleProblem, movedItemIds, tickedBy, type RoomChecklist, type RoomChecklistItem } from './checklistState.js';

/** "Ticked by bob, 14:05" under a ticked item. */
const tickedLine = (item: RoomChecklistItem, members: readonly ProjectMember[] | undefined) =>
  tickedBy(item.checked_by_name ?? memberName(members, item.checked_by), item.checked_at ? formatMessageTime(item.checked_at) : null);

interface Props {
  checklist: RoomChecklist;
  /** Project members, to name who ticked an item. */
  members: readonly ProjectMember[] | undefined;
  joined: boolean;
  isAdmin: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  onToggled: (reply: ToggleReply) => void;
  onReplaced: (checklist: ChecklistReply) => void;
}

/** An item's title being renamed: the draft survives a refusal so nothing typed is lost. */
type TitleEdit = { itemId: number; draft: string; saving: boolean; error: string | null };
/** An admin control of one item, to put the focus back on once the list has re-rendered. */
type ItemControl = { itemId: number; control: 'edit' | 'up' | 'down' };

/** Checklist items with toggles and the shared progress; admins add, rename, reorder and remove items. */
export function ChecklistPanel({ checklist, members, joined, isAdmin, push, onToggled, onReplaced }: Props) {
  const { progress, completed_items, total_items } = checklist.progress;
  const percent = Math.min(100, Math.max(0, progress));
  const [pending, setPending] = useState<ReadonlySet<number>>(new Set());
  // Adding the same title again after a failure is a retry, not a second item.
  const addKeys = useRef(new RetryKeys());
  // A toggle shows at once; the reply or a refusal settles it (a refusal puts the box back).
  const [optimistic, setOptimistic] = useState<ReadonlyMap<number, boolean>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [newTitle, setNewTitle] = useState('');
  const [adding, setAdding] = useState(false);
  const newId = useId();
  const [edit, setEdit] = useState<TitleEdit | null>(null);
  const [moving, setMoving] = useState(false);
  const [moveStatus, setMoveStatus] = useState('');
  const [focusTarget, setFocusTarget] = useState<ItemControl | null>(null);
  const listRef = useRef<HTMLUListElement>(null);

  // Moving re-orders the rows and may disable the button just pressed (at an end): keep the
  // keyboard where it was, on the moved item, instead of losing it to the page.
  useEffect(() => {
    if (!focusTarget) return;
    const row = listRef.current?.querySelector(`[data-item-id="${focusTarget.itemId}"]`);
    const control = (name: ItemControl['control']) => row?.querySelector<HTMLButtonElement>(`[data-control="${name}"]:not(:disabled)`);
    const other = focusTarget.control === 'up' ? 'down' : focusTarget.control === 'down' ? 'up' : 'edit';
    (control(focusTarget.control) ?? control(other))?.focus();
    setFocusTarget(null);
  }, [focusTarget, checklist.items]);

  const toggle = async (itemId: number, checked: boolean) => {
    setPending((p) => new Set(p).add(itemId));
    setOptimistic((m) => new Map(m).set(itemId, checked));
    setError(null);
    try {
      onToggled(await push('checklist:toggle', { item_id: itemId, checked }));
    } catch (e) {
      setError(describeActionError('The item was not changed', e));
    } finally {
      setPending((p) => {
        const next = new Set(p);
        next.delete(itemId);
        return next;
      });
      setOptimistic((m) => {
        const next = new Map(m);
        next.delete(itemId);
        return next;
      });
    }
  };

  const add = async (e: FormEvent) => {
    e.preventDefault();
    const title = newTitle.trim();
    const problem = checklistTitleProblem(title);
    if (problem) {
      setError(problem);
      return;
    }
    setAdding(true);
    setError(null);
    try {
      onReplaced(await push('checklist:add_item', { title }, { idempotencyKey: addKeys.current.keyFor(title) }));
      addKeys.current.succeeded(title);
      setNewTitle('');
    } catch (err) {
      setError(describeActionError('The item was not added', err));
    } finally {
      setAdding(false);
    }
  };

  const remove = async (itemId: number, title: string) => {
    if (!window.confirm(`Remove “${title}” from the checklist?`)) return;
    setPending((p) => new Set(p).add(itemId));
    setError(null);
    try {
      onReplaced(await push('checklist:remove_item', { item_id: itemId }));
    } catch (err) {
      setError(describeActionError('The item was not removed', err));
    } finally {
      setPending((p) => {
        const next = new Set(p);
        next.delete(itemId);
        return next;
      });
    }
  };

  const startEdit = (itemId: number, title: string) => {
    setError(null);
    setEdit({ itemId, draft: title, saving: false, error: null });
  };

  const cancelEdit = () => {
    if (edit) setFocusTarget({ itemId: edit.itemId, control: 'edit' });
    setEdit(null);
  };

  const saveEdit = async (e: FormEvent) => {
    e.preventDefault();
    if (!edit || edit.saving) return;
    const { itemId, draft } = edit;
    const title = draft.trim();
    const problem = checklistTitleProblem(title);
    if (problem) {
      setEdit({ ...edit, error: problem });
      return;
    }
    if (title === checklist.items.find((i) => i.id === itemId)?.title) {
      cancelEdit();
      return;
    }
    setEdit({ ...edit, saving: true, error: null });
    try {
      onReplaced(await push('checklist:edit_item', { item_id: itemId, title }));
      setEdit(null);
      setFocusTarget({ itemId, control: 'edit' });
    } catch (err) {
      // Still open with what was typed: the admin can fix it and save again, or cancel.
      setEdit((current) =>
        current?.itemId === itemId ? { ...current, saving: false, error: describeActionError('The item was not renamed', err) } : current,
      );
    }
  };

  const onEditKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      cancelEdit();
    }
  };

  const move = async (itemId: number, title: string, offset: -1 | 1) => {
    // One reorder at a time: a second one computed from the list before the first's reply would undo it.
    if (moving) return;
    const itemIds = movedItemIds(checklist.items, itemId, offset);
    if (!itemIds) return;
    setMoving(true);
    setError(null);
    try {
      onReplaced(await push('checklist:reorder', { item_ids: itemIds }));
      setMoveStatus(`Moved “${title}” to position ${itemIds.indexOf(itemId) + 1} of ${itemIds.length}.`);
    } catch (err) {
      setError(describeActionError('The item was not moved', err));
    } finally {
      setMoving(false);
      setFocusTarget({ itemId, control: offset === -1 ? 'up' : 'down' });
    }
  };

  const last = checklist.items.length - 1;

  return (
    <section className="panel checklist-panel" id="checklist" aria-labelledby="checklist-heading">
      <h2 id="checklist-heading" className="panel-title">
        Checklist
      </h2>
      <div className="progress">
        <div
          className="progress-track"
          role="progressbar"
          aria-labelledby="checklist-heading"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          aria-valuetext={`${percent}%, ${completed_items} of ${total_items} done`}
          data-testid="checklist-progress"
        >
          <div className="progress-fill" style={{ width: `${percent}%` }} />
        </div>
        <p className="progress-text">
          <strong>{percent}%</strong> · {completed_items} of {total_items} done
        </p>
      </div>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      {checklist.items.length === 0 ? (
        <p className="empty">No checklist items yet.</p>
      ) : (
        <ul className="checklist" ref={listRef}>
          {checklist.items.map((item, index) => {
            const boxId = `check-${item.id}`;
            const checked = optimistic.get(item.id) ?? item.checked;
            const editing = isAdmin && edit?.itemId === item.id ? edit : null;
            return (
              <li key={item.id} className={`checklist-item${checked ? ' is-checked' : ''}`} data-item-id={item.id}>
                <input
                  id={boxId}
                  type="checkbox"
                  className="check-input"
                  checked={checked}
                  disabled={!joined}
                  aria-busy={pending.has(item.id)}
                  // While the title is an input, the label is gone: the box keeps its name.
                  aria-label={editing ? item.title : undefined}
                  onChange={(e) => {
                    if (!pending.has(item.id)) void toggle(item.id, e.target.checked);
                  }}
                />
                {editing ? (
                  <form className="checklist-edit" onSubmit={(e) => void saveEdit(e)} aria-busy={editing.saving}>
                    <div className="inline-field">
                      <input
                        type="text"
                        value={editing.draft}
                        maxLength={CHECKLIST_TITLE_MAX}
                        onChange={(e) => setEdit({ ...editing, draft: e.target.value, error: null })}
                        onKeyDown={onEditKeyDown}
                        aria-label={`New title for ${item.title}`}
                        aria-invalid={editing.error !== null}
                        aria-describedby={editing.error ? `edit-error-${item.id}` : undefined}
                        autoFocus
                      />
                      <button type="submit" className="button button-small" disabled={editing.saving || !joined}>
                        {editing.saving ? 'Saving…' : 'Save'}
                      </button>
                      <button type="button" className="button button-quiet button-small" onClick={cancelEdit}>
                        Cancel
                      </button>
                    </div>
                    {editing.error && (
                      <p id={`edit-error-${item.id}`} className="inline-error" role="alert">
                        {editing.error}
                      </p>
                    )}
                    {item.description && <span className="checklist-description">{item.description}</span>}
                  </form>
                ) : (
                  <label htmlFor={boxId} className="checklist-text">
                    <span className="checklist-title">{item.title}</span>
                    {item.description && <span className="checklist-description">{item.description}</span>}
                    {checked && item.checked && <span className="checklist-byline">{tickedLine(item, members)}</span>}
                  </label>
                )}
                {isAdmin && !editing && (
                  <div className="checklist-actions">
                    <button
                      type="button"
                      className="button button-quiet button-small checklist-move"
                      data-control="up"
                      onClick={() => void move(item.id, item.title, -1)}
                      disabled={!joined || index === 0}
                      aria-disabled={moving || undefined}
                      aria-label={`Move ${item.title} up`}
                      title="Move up"
                    >
                      <span aria-hidden="true">↑</span>
                    </button>
                    <button
                      type="button"
                      className="button button-quiet button-small checklist-move"
                      data-control="down"
                      onClick={() => void move(item.id, item.title, 1)}
                      disabled={!joined || index === last}
                      aria-disabled={moving || undefined}
                      aria-label={`Move ${item.title} down`}
                      title="Move down"
                    >
                      <span aria-hidden="true">↓</span>
                    </button>
                    <button
                      type="button"
                      className="button button-quiet button-small"
                      data-control="edit"
                      onClick={() => startEdit(item.id, item.title)}
                      disabled={!joined}
                      aria-label={`Edit ${item.title}`}
                    >
                      <span aria-hidden="true">✎</span> Edit
                    </button>
                    <button
                      type="button"
                      className="button button-quiet button-small checklist-remove"
                      onClick={() => void remove(item.id, item.title)}
                      disabled={!joined || pending.has(item.id)}
                      aria-label={`Remove ${item.title}`}
                    >
                      Remove
                    </button>
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {isAdmin && (
        <p className="visually-hidden" role="status">
          {moveStatus}
        </p>
      )}
      {isAdmin && (
        <form className="checklist-add" onSubmit={(e) => void add(e)}>
          <label htmlFor={newId} className="field-label">
            New checklist item
          </label>
          <div className="inline-field">
            <input
              id={newId}
              type="text"
              value={newTitle}
              maxLength={CHECKLIST_TITLE_MAX}
              onChange={(e) => setNewTitle(e.target.value)}
              placeholder="e.g. Agree on the launch date"
            />
            <button type="submit" className="button" disabled={adding || !joined}>
              {adding ? 'Adding…' : 'Add item'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
