import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { devLogin } from './devLogin.js';
import { fragmentWithoutToken, readHandover } from './handover.js';
import { clearSession, readSession, tokenExpiresAt, TOKEN_KEY, USER_KEY, writeSession, type Session } from './session.js';

interface AuthValue {
  session: Session | null;
  /** Why a token handed over in the link (`#access_token=…`) was not taken, for the sign-in page. */
  handoverProblem: string | null;
  /** Signs in through the gateway's dev login; rejects with a LoginError. */
  signIn: (username: string) => Promise<Session>;
  signOut: () => void;
}

const AuthContext = createContext<AuthValue | null>(null);

/**
 * Takes a token handed over in the URL fragment: stores it as dev login stores its session (a
 * token refused signs out whoever was signed in: the link was meant for someone) and removes it
 * from the address bar at once, so it stays out of history, bookmarks and screenshots. Returns why
 * it was refused, if it was.
 */
function takeHandover(): string | null {
  const handover = readHandover(window.location.hash);
  if (handover.kind === 'none') return null;
  const { pathname, search, hash } = window.location;
  window.history.replaceState(window.history.state, '', pathname + search + fragmentWithoutToken(hash));
  if (handover.kind === 'session') {
    writeSession(window.localStorage, handover.session);
    return null;
  }
  clearSession(window.localStorage);
  return handover.message;
}

/** The page load's handover, taken once (StrictMode renders the provider's initial state twice). */
let pageLoadHandover: { problem: string | null } | undefined;
const handoverOfPageLoad = () => (pageLoadHandover ??= { problem: takeHandover() });

/** Largest delay setTimeout honours (about 24.8 days); a later expiry is simply checked on next load. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function AuthProvider({ children }: { children: ReactNode }) {
  const [handoverProblem, setHandoverProblem] = useState<string | null>(() => handoverOfPageLoad().problem);
  const [session, setSession] = useState<Session | null>(() => {
    handoverOfPageLoad();
    return readSession(window.localStorage);
  });

  const signIn = useCallback(async (username: string) => {
    const { token, user } = await devLogin(username);
    const next = { token, user };
    writeSession(window.localStorage, next);
    setSession(next);
    setHandoverProblem(null);
    return next;
  }, []);

  // A link from Siteflow followed while the app is open changes only the fragment: take it too.
  useEffect(() => {
    const onHashChange = () => {
      const problem = takeHandover();
      setHandoverProblem(problem);
      setSession(readSession(window.localStorage));
    };
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
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

  const value = useMemo(() => ({ session, handoverProblem, signIn, signOut }), [session, handoverProblem, signIn, signOut]);
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
