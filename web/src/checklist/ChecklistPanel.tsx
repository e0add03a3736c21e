import type { RoomChecklist } from './checklistState.js';

/** Checklist items and the shared progress. Toggling comes next. */
export function ChecklistPanel({ checklist }: { checklist: RoomChecklist }) {
  const { progress, completed_items, total_items } = checklist.progress;
  const percent = Math.min(100, Math.max(0, progress));
  return (
    <section className="panel checklist-panel" aria-labelledby="checklist-heading">
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
        >
          <div className="progress-fill" style={{ width: `${percent}%` }} />
        </div>
        <p className="progress-text">
          <strong>{percent}%</strong> · {completed_items} of {total_items} done
        </p>
      </div>
      {checklist.items.length === 0 ? (
        <p className="empty">No checklist items yet.</p>
      ) : (
        <ul className="checklist">
          {checklist.items.map((item) => (
            <li key={item.id} className={`checklist-item${item.checked ? ' is-checked' : ''}`} data-item-id={item.id}>
              <span className="check" aria-hidden="true">
                {item.checked ? '✓' : ''}
              </span>
              <span className="checklist-text">
                <span className="checklist-title">{item.title}</span>
                <span className="visually-hidden">{item.checked ? ' (done)' : ' (open)'}</span>
                {item.description && <span className="checklist-description">{item.description}</span>}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
