import type { DevLoginResponse } from '@siteflow/contracts';
import { asSessionUser } from './session.js';

/** A sign-in that did not work, with a message meant for the person signing in. */
export class LoginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoginError';
  }
}

/** Validates the body of a successful `POST /api/auth/dev-login`. */
export function parseDevLoginResponse(body: unknown): DevLoginResponse | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  const user = asSessionUser(b.user);
  if (typeof b.token !== 'string' || b.token === '' || !user) return null;
  return { token: b.token, user, expires_at: typeof b.expires_at === 'string' ? b.expires_at : '' };
}

/** The server's own words when it sent some (`{message}`, `{reason}`, `{error: {message}}`, `{error: "…"}`). */
function serverMessage(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  const nested = typeof b.error === 'object' && b.error !== null ? (b.error as Record<string, unknown>).message : undefined;
  for (const candidate of [b.message, b.reason, nested, b.error]) {
    if (typeof candidate === 'string' && candidate.trim() !== '') return candidate;
  }
  return null;
}

/** What to tell someone whose dev-login came back with `status`. */
export function loginFailureMessage(status: number, body: unknown): string {
  const said = serverMessage(body);
  if (status === 404 || status === 401) {
    // 404/401 with no word, "dev login is disabled" or a bare missing route: dev login is off.
    // Anything else the server said (e.g. "no demo user named …") is about this username.
    const off = said === null || /disabled|^not found$|^route .* not found$/i.test(said.trim());
    return off ? 'Dev login is disabled on this server. Ask an administrator how to sign in.' : `Cannot sign in: ${said}.`;
  }
  if (status === 400 || status === 422) return said ? `That username was not accepted: ${said}` : 'That username was not accepted.';
  if (status === 403) return said ?? 'This user may not sign in.';
  if (status === 429) return 'Too many sign-in attempts. Wait a moment and try again.';
  if (status >= 500) return 'The server could not sign you in right now. Try again in a moment.';
  return said ?? `Sign-in failed (HTTP ${status}).`;
}

/** `POST /api/auth/dev-login {username}`; resolves with the session or throws a LoginError. */
export async function devLogin(username: string, fetchImpl: typeof fetch = fetch): Promise<DevLoginResponse> {
  let response: Response;
  try {
    response = await fetchImpl('/api/auth/dev-login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ username }),
    });
  } catch {
    throw new LoginError('Cannot reach the server. Check your connection and try again.');
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw new LoginError(loginFailureMessage(response.status, body));
  const parsed = parseDevLoginResponse(body);
  if (!parsed) throw new LoginError('The server sent an unexpected sign-in response.');
  return parsed;
}

/** A user dev login offers (the demo users, when the server seeds them). */
export type DevLoginUser = DevLoginResponse['user'];

/**
 * `GET /api/auth/dev-login`: the users dev login offers, the demo users when the server runs with
 * SEED_DEMO=true. Empty when dev login is off or the server cannot be asked: the page then offers
 * only the username field (and says what went wrong once someone tries).
 */
export async function devLoginUsers(fetchImpl: typeof fetch = fetch): Promise<DevLoginUser[]> {
  try {
    const response = await fetchImpl('/api/auth/dev-login', { headers: { accept: 'application/json' } });
    if (!response.ok) return [];
    const body: unknown = await response.json();
    const users = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).users : undefined;
    return Array.isArray(users) ? users.map(asSessionUser).filter((u): u is DevLoginUser => u !== null) : [];
  } catch {
    return [];
  }
}
