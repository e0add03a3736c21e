import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { TokenClaims } from '@siteflow/contracts';

/** The authenticated user of a socket, from a verified token. */
export interface SessionUser {
  id: number;
  username: string;
  role: 'admin' | 'customer';
  avatar_url: string;
  /** Token expiry, ms since epoch: the socket is closed then. */
  expiresAt: number;
}

export interface TokenService {
  issue(user: { id: number; username: string; role: 'admin' | 'customer'; avatar_url: string }): Promise<{ token: string; expiresAt: Date }>;
  verify(token: string): Promise<SessionUser | null>;
}

/** HS256 with the algorithm pinned; `exp`, `iss` and `aud` are checked by jose. */
export function hs256Tokens(opts: { secret: string; issuer: string; audience: string; ttlSeconds: number; now?: () => number }): TokenService {
  const key = new TextEncoder().encode(opts.secret);
  const now = opts.now ?? Date.now;
  return {
    async issue(user) {
      const iat = Math.floor(now() / 1000);
      const exp = iat + opts.ttlSeconds;
      const token = await new SignJWT({ name: user.username, role: user.role, avatar_url: user.avatar_url })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(String(user.id))
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(key);
      return { token, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: opts.issuer,
          audience: opts.audience,
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(now()),
        });
        const claims = TokenClaims.safeParse(payload);
        if (!claims.success || typeof payload.exp !== 'number') return null;
        return {
          id: Number(claims.data.sub),
          username: claims.data.name,
          role: claims.data.role,
          avatar_url: claims.data.avatar_url ?? '',
          expiresAt: payload.exp * 1000,
        };
      } catch (e) {
        if (e instanceof joseErrors.JOSEError) return null;
        throw e;
      }
    },
  };
}
