import { asSessionUser, tokenExpiresAt, type Session } from './session.js';

/**
 * What the URL fragment of a link from Siteflow handed over: Siteflow opens the planning room
 * with `/projects/7/planning#access_token=<JWT>`, a token its issuer signed for the user (README
 * "Session tokens" lists the claims). A fragment never reaches a server or a Referer header.
 */
export type Handover = { kind: 'none' } | { kind: 'session'; session: Session } | { kind: 'refused'; message: string };

const AGAIN = 'Open the planning room from Siteflow again, or sign in below.';

/**
 * Reads `access_token` from a URL fragment (`#access_token=…&token_type=Bearer…`). The signature
 * is checked by the gateway when the socket opens; here only what the app needs to run is: the
 * user (`sub`, `username`, `role`, `avatar_url`) and that `exp` lies ahead.
 */
export function readHandover(hash: string, now: number = Date.now()): Handover {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('access_token');
  if (token === null) return { kind: 'none' };
  const claims = jwtClaims(token);
  const user = claims && userOf(claims);
  if (!user) return { kind: 'refused', message: `The sign-in link from Siteflow carried a token this app cannot read. ${AGAIN}` };
  const expiresAt = tokenExpiresAt(token);
  if (expiresAt === null) return { kind: 'refused', message: `The sign-in link from Siteflow carried a token without an expiry. ${AGAIN}` };
  if (expiresAt <= now) return { kind: 'refused', message: `The sign-in link from Siteflow has expired. ${AGAIN}` };
  return { kind: 'session', session: { token, user } };
}

/** The fragment without `access_token` (and the token type and lifetime that come with it). */
export function fragmentWithoutToken(hash: string): string {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  for (const key of ['access_token', 'token_type', 'expires_in']) params.delete(key);
  const rest = params.toString();
  return rest === '' ? '' : `#${rest}`;
}

function jwtClaims(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  const encoded = parts[1];
  if (parts.length !== 3 || encoded === undefined || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return null;
  try {
    const body = encoded.replace(/-/g, '+').replace(/_/g, '/');
    const claims: unknown = JSON.parse(atob(body.padEnd(Math.ceil(body.length / 4) * 4, '=')));
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The session user from the claims the gateway requires (`name` is accepted for `username`, as there). */
function userOf(claims: Record<string, unknown>) {
  if (typeof claims.sub !== 'string' || !/^[1-9][0-9]{0,15}$/.test(claims.sub)) return null;
  const username = typeof claims.username === 'string' ? claims.username : claims.name;
  if (typeof username !== 'string' || username.length > 100) return null;
  return asSessionUser({ id: Number(claims.sub), username, role: claims.role, avatar_url: claims.avatar_url });
}
