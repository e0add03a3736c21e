import type { ChecklistReply, ProjectMember, RoomSnapshot, ToggleReply } from '@siteflow/contracts';
import { useRef, useState } from 'react';
import type { ChannelApi } from '../realtime/useChannel.js';
import { AddChecklistItem } from './AddChecklistItem.js';
import { ChecklistItemRow } from './ChecklistItemRow.js';
import { progressView, type RoomChecklist } from './checklistState.js';
import { useItemFocus, useItemWrites, useRename, useReorder } from './useChecklistActions.js';

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

/** Checklist items with toggles and the shared progress; admins add, rename, reorder and remove items. */
export function ChecklistPanel({ checklist, members, joined, isAdmin, push, onToggled, onReplaced }: Props) {
  const { items } = checklist;
  const [error, setError] = useState<string | null>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const focus = useItemFocus(listRef);
  const writes = useItemWrites(push, onToggled, onReplaced, setError);
  const rename = useRename(items, push, onReplaced, setError, focus);
  const reorder = useReorder(items, push, onReplaced, setError, focus);

  return (
    <section className="panel checklist-panel" id="checklist" aria-labelledby="checklist-heading">
      <h2 id="checklist-heading" className="panel-title">
        Checklist
      </h2>
      <ChecklistProgress progress={checklist.progress} />
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      {items.length === 0 ? (
        <p className="empty">No checklist items yet.</p>
      ) : (
        <ul className="checklist" ref={listRef}>
          {items.map((item, index) => (
            <ChecklistItemRow
              key={item.id}
              item={item}
              checked={writes.optimistic.get(item.id) ?? item.checked}
              pending={writes.pending.has(item.id)}
              joined={joined}
              members={members}
              onToggle={(checked) => void writes.toggle(item.id, checked)}
              admin={
                isAdmin
                  ? {
                      edit: rename.edit?.itemId === item.id ? rename.edit : null,
                      isFirst: index === 0,
                      isLast: index === items.length - 1,
                      moving: reorder.moving,
                      onMove: (offset) => void reorder.move(item.id, item.title, offset),
                      onStartEdit: () => {
                        rename.start(item.id, item.title);
                      },
                      onEditDraft: (draft) => {
                        if (rename.edit) rename.setEdit({ ...rename.edit, draft, error: null });
                      },
                      onSaveEdit: () => void rename.save(),
                      onCancelEdit: rename.cancel,
                      onRemove: () => void writes.remove(item.id, item.title),
                    }
                  : null
              }
            />
          ))}
        </ul>
      )}
      {isAdmin && (
        <p className="visually-hidden" role="status">
          {reorder.status}
        </p>
      )}
      {isAdmin && <AddChecklistItem joined={joined} push={push} onReplaced={onReplaced} showError={setError} />}
    </section>
  );
}

/** The shared progress bar: "67.5% · 27 of 40 done". */
function ChecklistProgress({ progress }: { progress: RoomChecklist['progress'] }) {
  const { percent, valueText } = progressView(progress);
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-labelledby="checklist-heading"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={valueText}
        data-testid="checklist-progress"
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <p className="progress-text">
        <strong>{percent}%</strong> · {progress.completed_items} of {progress.total_items} done
      </p>
    </div>
  );
}
