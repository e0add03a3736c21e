/** What the connection badge shows. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

/** What the socket provider observes. */
export interface ConnectionFacts {
  /** The browser believes it has a network (`navigator.onLine`). */
  online: boolean;
  /** The WebSocket is open right now. */
  open: boolean;
  /** A connection attempt has failed or an open connection was lost since the provider started. */
  interrupted: boolean;
}

/**
 * No network wins over everything: the socket may not have noticed yet. An open socket is
 * connected. Otherwise we are either still making the first attempt or retrying after a failure.
 */
export function connectionState({ online, open, interrupted }: ConnectionFacts): ConnectionState {
  if (!online) return 'offline';
  if (open) return 'connected';
  return interrupted ? 'reconnecting' : 'connecting';
}

export const connectionLabel: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};
