import { connectionLabel } from './connectionState.js';
import { useSocket } from './SocketProvider.js';

/** Always visible in the top bar; a live region, so a lost connection is announced too. */
export function ConnectionBadge() {
  const { connectionState } = useSocket();
  return (
    <span className={`connection-badge is-${connectionState}`} data-testid="connection-state" data-state={connectionState} role="status">
      <span className="connection-dot" aria-hidden="true" />
      {connectionLabel[connectionState]}
    </span>
  );
}
