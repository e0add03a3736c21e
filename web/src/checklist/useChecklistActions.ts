import type { ChecklistReply, RoomSnapshot, ToggleReply } from '@siteflow/contracts';
import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { describeActionError } from '../realtime/actionError.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import {
  addTo,
  focusCandidates,
  movedItemIds,
  moveStatusText,
  removeFrom,
  renameOutcome,
  withEntry,
  type ItemControl,
  type RoomChecklistItem,
} from './checklistState.js';

type Push = ChannelApi<RoomSnapshot>['push'];
type ShowError = (error: string | null) => void;

/**
 * Puts the keyboard back on an item's control once the list has re-rendered: moving re-orders the
 * rows and may disable the button just pressed (at an end), and closing a rename removes its form.
 * Returns the function that asks for it; every such request comes with a state change, so a
 * render follows it.
 */
export function useItemFocus(listRef: RefObject<HTMLUListElement | null>) {
  const targetRef = useRef<ItemControl | null>(null);
  useEffect(() => {
    const wanted = targetRef.current;
    if (!wanted) return;
    targetRef.current = null;
    const row = listRef.current?.querySelector(`[data-item-id="${wanted.itemId}"]`);
    const enabled = focusCandidates(wanted.control)
      .map((name) => row?.querySelector<HTMLButtonElement>(`[data-control="${name}"]:not(:disabled)`))
      .find((control) => control != null);
    enabled?.focus();
  });
  return useCallback((wanted: ItemControl) => {
    targetRef.current = wanted;
  }, []);
}

/**
 * Ticking and removing items. A toggle shows at once; the reply or a refusal settles it (a
 * refusal puts the box back). `pending` items wait for a reply.
 */
export function useItemWrites(
  push: Push,
  onToggled: (reply: ToggleReply) => void,
  onReplaced: (c: ChecklistReply) => void,
  showError: ShowError,
) {
  const [pending, setPending] = useState<ReadonlySet<number>>(new Set());
  const [optimistic, setOptimistic] = useState<ReadonlyMap<number, boolean>>(new Map());

  const toggle = async (itemId: number, checked: boolean) => {
    setPending((p) => addTo(p, itemId));
    setOptimistic((m) => withEntry(m, itemId, checked));
    showError(null);
    try {
      onToggled(await push('checklist:toggle', { item_id: itemId, checked }));
    } catch (e) {
      showError(describeActionError('The item was not changed', e));
    } finally {
      setPending((p) => removeFrom(p, itemId));
      setOptimistic((m) => withEntry(m, itemId, undefined));
    }
  };

  const remove = async (itemId: number, title: string) => {
    if (!window.confirm(`Remove “${title}” from the checklist?`)) return;
    setPending((p) => addTo(p, itemId));
    showError(null);
    try {
      onReplaced(await push('checklist:remove_item', { item_id: itemId }));
    } catch (err) {
      showError(describeActionError('The item was not removed', err));
    } finally {
      setPending((p) => removeFrom(p, itemId));
    }
  };

  return { pending, optimistic, toggle, remove };
}

/** An item's title being renamed: the draft survives a refusal so nothing typed is lost. */
export type TitleEdit = { itemId: number; draft: string; saving: boolean; error: string | null };

/** Renaming one item at a time (admins). */
export function useRename(
  items: readonly RoomChecklistItem[],
  push: Push,
  onReplaced: (c: ChecklistReply) => void,
  showError: ShowError,
  focus: (target: ItemControl) => void,
) {
  const [edit, setEdit] = useState<TitleEdit | null>(null);

  const start = (itemId: number, title: string) => {
    showError(null);
    setEdit({ itemId, draft: title, saving: false, error: null });
  };

  const cancel = () => {
    if (edit) focus({ itemId: edit.itemId, control: 'edit' });
    setEdit(null);
  };

  const save = async () => {
    if (!edit || edit.saving) return;
    const { itemId } = edit;
    const outcome = renameOutcome(items, itemId, edit.draft);
    if (outcome.kind === 'invalid') {
      setEdit({ ...edit, error: outcome.problem });
      return;
    }
    if (outcome.kind === 'unchanged') {
      cancel();
      return;
    }
    setEdit({ ...edit, saving: true, error: null });
    try {
      onReplaced(await push('checklist:edit_item', { item_id: itemId, title: outcome.title }));
      setEdit(null);
      focus({ itemId, control: 'edit' });
    } catch (err) {
      // Still open with what was typed: the admin can fix it and save again, or cancel.
      setEdit((current) =>
        current?.itemId === itemId ? { ...current, saving: false, error: describeActionError('The item was not renamed', err) } : current,
      );
    }
  };

  return { edit, setEdit, start, cancel, save };
}

/** Moving items up and down (admins), one reorder at a time, announced for screen readers. */
export function useReorder(
  items: readonly RoomChecklistItem[],
  push: Push,
  onReplaced: (c: ChecklistReply) => void,
  showError: ShowError,
  focus: (target: ItemControl) => void,
) {
  const [moving, setMoving] = useState(false);
  const [status, setStatus] = useState('');

  const move = async (itemId: number, title: string, offset: -1 | 1) => {
    // One reorder at a time: a second one computed from the list before the first's reply would undo it.
    if (moving) return;
    const itemIds = movedItemIds(items, itemId, offset);
    if (!itemIds) return;
    setMoving(true);
    showError(null);
    try {
      onReplaced(await push('checklist:reorder', { item_ids: itemIds }));
      setStatus(moveStatusText(title, itemIds, itemId));
    } catch (err) {
      showError(describeActionError('The item was not moved', err));
    } finally {
      setMoving(false);
      focus({ itemId, control: offset === -1 ? 'up' : 'down' });
    }
  };

  return { moving, status, move };
}
