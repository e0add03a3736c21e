import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { devLogin } from './devLogin.js';
import { clearSession, readSession, tokenExpiresAt, TOKEN_KEY, USER_KEY, writeSession, type Session } from './session.js';

interface AuthValue {
  session: Session | null;
  /** Signs in through the gateway's dev login; rejects with a LoginError. */
  signIn: (username: string) => Promise<Session>;
  signOut: () => void;
}

const AuthContext = createContext<AuthValue | null>(null);

/** Largest delay setTimeout honours (about 24.8 days); a later expiry is simply checked on next load. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(() => readSession(window.localStorage));

  const signIn = useCallback(async (username: string) => {
    const { token, user } = await devLogin(username);
    const next = { token, user };
    writeSession(window.localStorage, next);
    setSession(next);
    return next;
  }, []);

  const signOut = useCallback(() => {
    clearSession(window.localStorage);
    setSession(null);
  }, []);

  // Another tab signed in or out: follow it, so two tabs never run as two different users.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key === null || e.key === TOKEN_KEY || e.key === USER_KEY) setSession(readSession(window.localStorage));
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  // An expired token would only fail every rejoin from now on: end the session when it lapses.
  useEffect(() => {
    const expiresAt = session ? tokenExpiresAt(session.token) : null;
    if (expiresAt === null) return;
    const timer = window.setTimeout(
      () => setSession(readSession(window.localStorage)),
      Math.min(Math.max(0, expiresAt - Date.now()), MAX_TIMEOUT_MS),
    );
    return () => window.clearTimeout(timer);
  }, [session]);

  const value = useMemo(() => ({ session, signIn, signOut }), [session, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside <AuthProvider>');
  return auth;
}

/** The session of a page that is only rendered signed in. */
export function useSession(): Session {
  const { session } = useAuth();
  if (!session) throw new Error('useSession on a page rendered without a session');
  return session;
}
