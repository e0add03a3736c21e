import type { DevLoginResponse, Role } from '@siteflow/contracts';

/** The signed-in user as the gateway's dev-login returns it. */
export type SessionUser = DevLoginResponse['user'];

export interface Session {
  token: string;
  user: SessionUser;
}

/** Storage keys: `auth_token` is the seed's name (its SocketProvider reads it). */
export const TOKEN_KEY = 'auth_token';
export const USER_KEY = 'auth_user';

type KeyValueStore = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const ROLES: readonly Role[] = ['admin', 'customer'];

/** Checks the shape of a user read from storage or from the network (no zod in the bundle). */
export function asSessionUser(value: unknown): SessionUser | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'number' || !Number.isSafeInteger(v.id) || v.id <= 0) return null;
  if (typeof v.username !== 'string' || v.username === '') return null;
  if (typeof v.role !== 'string' || !ROLES.includes(v.role as Role)) return null;
  const avatar_url = typeof v.avatar_url === 'string' ? v.avatar_url : '';
  return { id: v.id, username: v.username, role: v.role as Role, avatar_url };
}

/** The `exp` claim of a JWT in epoch milliseconds, or null when the token does not carry one. */
export function tokenExpiresAt(token: string): number | null {
  const body = token.split('.')[1];
  if (!body) return null;
  try {
    const json = atob(
      body
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(body.length / 4) * 4, '='),
    );
    const exp: unknown = (JSON.parse(json) as Record<string, unknown>).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** The stored session, or null (and storage cleared) when it is missing, malformed or expired. */
export function readSession(store: KeyValueStore, now: number = Date.now()): Session | null {
  const token = store.getItem(TOKEN_KEY);
  const rawUser = store.getItem(USER_KEY);
  if (!token || !rawUser) {
    if (token || rawUser) clearSession(store);
    return null;
  }
  let user: SessionUser | null;
  try {
    user = asSessionUser(JSON.parse(rawUser));
  } catch {
    user = null;
  }
  const expiresAt = tokenExpiresAt(token);
  if (!user || (expiresAt !== null && expiresAt <= now)) {
    clearSession(store);
    return null;
  }
  return { token, user };
}

export function writeSession(store: KeyValueStore, session: Session): void {
  store.setItem(TOKEN_KEY, session.token);
  store.setItem(USER_KEY, JSON.stringify(session.user));
}

export function clearSession(store: KeyValueStore): void {
  store.removeItem(TOKEN_KEY);
  store.removeItem(USER_KEY);
}
