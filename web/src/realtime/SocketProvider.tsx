import { Socket } from 'phoenix';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { connectionState, type ConnectionState } from './connectionState.js';
import { ReconnectPolicy } from './reconnect.js';

interface SocketValue {
  /** Null until the provider has a token and has created the socket. */
  socket: Socket | null;
  connectionState: ConnectionState;
}

const SocketContext = createContext<SocketValue>({ socket: null, connectionState: 'connecting' });

/**
 * One Phoenix socket per signed-in token, on this origin's `/socket` (Vite proxies it in
 * development; the gateway serves both in production). The stock client reconnects and rejoins
 * its channels by itself, at the jittered times ReconnectPolicy gives it; this provider only
 * observes it for the connection badge.
 */
export function SocketProvider({ token, children }: { token: string; children: ReactNode }) {
  const [socket, setSocket] = useState<Socket | null>(null);
  // Open/interrupted as seen on one socket: a new socket starts connecting, without a reset in the effect.
  const [seen, setSeen] = useState<{ socket: Socket | null; open: boolean; interrupted: boolean }>({
    socket: null,
    open: false,
    interrupted: false,
  });
  const [online, setOnline] = useState(() => navigator.onLine);

  useEffect(() => {
    // Jittered reconnects and rejoins that honour a gateway's retry-after (a reconnect storm spreads out).
    const policy = new ReconnectPolicy();
    const s = new Socket('/socket', {
      params: { token },
      reconnectAfterMs: policy.reconnectAfterMs,
      rejoinAfterMs: policy.rejoinAfterMs,
      decode: policy.decode,
    });
    const lost = () => {
      setSeen({ socket: s, open: false, interrupted: true });
    };
    const refs = [
      s.onOpen(() => {
        setSeen((was) => ({ socket: s, open: true, interrupted: was.socket === s && was.interrupted }));
      }),
      s.onClose(lost),
      s.onError(lost),
    ];
    s.connect();
    // The socket is the external system this effect creates and connects (its constructor already
    // binds page listeners, so it is not made during render); handing it to the tree is the effect's result.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setSocket(s);
    return () => {
      s.off(refs);
      s.disconnect();
      setSocket(null);
    };
  }, [token]);
  const { open, interrupted } = seen.socket !== null && seen.socket === socket ? seen : { open: false, interrupted: false };

  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    return () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    };
  }, []);

  const value = useMemo(
    () => ({ socket, connectionState: connectionState({ online, open, interrupted }) }),
    [socket, online, open, interrupted],
  );
  return <SocketContext.Provider value={value}>{children}</SocketContext.Provider>;
}

export function useSocket(): SocketValue {
  return useContext(SocketContext);
}
