import type { RoomSnapshot } from '@siteflow/contracts';
import { useId, useState, type FormEvent } from 'react';
import { describeActionError } from '../realtime/actionError.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import type { ChecklistSnapshotData, ToggleReplyData } from '../realtime/wire.js';
import type { RoomChecklist } from './checklistState.js';

interface Props {
  checklist: RoomChecklist;
  joined: boolean;
  isAdmin: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  onToggled: (reply: ToggleReplyData) => void;
  onReplaced: (checklist: ChecklistSnapshotData) => void;
}

/** Mirrors the contracts' title bound of `checklist:add_item`. */
const TITLE_MAX = 255;

/** Checklist items with toggles and the shared progress; admins add and remove items. */
export function ChecklistPanel({ checklist, joined, isAdmin, push, onToggled, onReplaced }: Props) {
  const { progress, completed_items, total_items } = checklist.progress;
  const percent = Math.min(100, Math.max(0, progress));
  const [pending, setPending] = useState<ReadonlySet<number>>(new Set());
  // A toggle shows at once; the reply or a refusal settles it (a refusal puts the box back).
  const [optimistic, setOptimistic] = useState<ReadonlyMap<number, boolean>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [newTitle, setNewTitle] = useState('');
  const [adding, setAdding] = useState(false);
  const newId = useId();

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
    if (title === '') {
      setError('Give the new item a title.');
      return;
    }
    setAdding(true);
    setError(null);
    try {
      onReplaced(await push('checklist:add_item', { title }));
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
        <ul className="checklist">
          {checklist.items.map((item) => {
            const boxId = `check-${item.id}`;
            const checked = optimistic.get(item.id) ?? item.checked;
            return (
              <li key={item.id} className={`checklist-item${checked ? ' is-checked' : ''}`} data-item-id={item.id}>
                <input
                  id={boxId}
                  type="checkbox"
                  className="check-input"
                  checked={checked}
                  disabled={!joined}
                  aria-busy={pending.has(item.id)}
                  onChange={(e) => {
                    if (!pending.has(item.id)) void toggle(item.id, e.target.checked);
                  }}
                />
                <label htmlFor={boxId} className="checklist-text">
                  <span className="checklist-title">{item.title}</span>
                  {item.description && <span className="checklist-description">{item.description}</span>}
                </label>
                {isAdmin && (
                  <button
                    type="button"
                    className="button button-quiet button-small checklist-remove"
                    onClick={() => void remove(item.id, item.title)}
                    disabled={!joined || pending.has(item.id)}
                    aria-label={`Remove ${item.title}`}
                  >
                    Remove
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {isAdmin && (
        <form className="checklist-add" onSubmit={(e) => void add(e)}>
          <label htmlFor={newId} className="field-label">
            New checklist item
          </label>
          <div className="inline-field">
            <input id={newId} type="text" value={newTitle} maxLength={TITLE_MAX} onChange={(e) => setNewTitle(e.target.value)} placeholder="e.g. Agree on the launch date" />
            <button type="submit" className="button" disabled={adding || !joined}>
              {adding ? 'Adding…' : 'Add item'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
