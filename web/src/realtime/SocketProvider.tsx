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
  const [open, setOpen] = useState(false);
  const [interrupted, setInterrupted] = useState(false);
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
    setOpen(false);
    setInterrupted(false);
    const refs = [
      s.onOpen(() => setOpen(true)),
      s.onClose(() => {
        setOpen(false);
        setInterrupted(true);
      }),
      s.onError(() => {
        setOpen(false);
        setInterrupted(true);
      }),
    ];
    s.connect();
    setSocket(s);
    return () => {
      s.off(refs);
      s.disconnect();
      setSocket(null);
    };
  }, [token]);

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
