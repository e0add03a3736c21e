import type { ProjectStatus, RoomSnapshot } from '@siteflow/contracts';
import { useId, useState } from 'react';
import { describeActionError } from '../realtime/actionError.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { projectStatuses, projectStatusLabel } from './projectStatus.js';

interface Props {
  status: ProjectStatus;
  joined: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  onSet: (status: ProjectStatus) => void;
}

/** Admins set the project's status; everyone sees it change through `project:status_change`. */
export function ProjectStatusControl({ status, joined, push, onSet }: Props) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  const change = async (next: ProjectStatus) => {
    if (next === status) return;
    setBusy(true);
    setError(null);
    try {
      await push('project:set_status', { status: next });
      onSet(next);
    } catch (e) {
      setError(describeActionError('The status was not changed', e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="status-control">
      <label htmlFor={id} className="field-label">
        Project status
      </label>
      <select id={id} value={status} disabled={busy || !joined} onChange={(e) => void change(e.target.value as ProjectStatus)}>
        {projectStatuses.map((s) => (
          <option key={s} value={s}>
            {projectStatusLabel[s]}
          </option>
        ))}
      </select>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
