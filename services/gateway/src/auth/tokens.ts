import { importPKCS8, importSPKI, jwtVerify, SignJWT, errors as joseErrors, type CryptoKey } from 'jose';
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
  /** Signs a session token; throws when this gateway holds no signing key (verify-only). */
  issue(user: { id: number; username: string; role: 'admin' | 'customer'; avatar_url: string }): Promise<{ token: string; expiresAt: Date }>;
  verify(token: string): Promise<SessionUser | null>;
}

/** The signature algorithms a gateway can be configured for; exactly one is accepted at a time. */
export const TOKEN_ALGORITHMS = ['HS256', 'RS256', 'EdDSA'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/**
 * The key material for one pinned algorithm. HS256: a shared secret (at least 32 bytes).
 * RS256/EdDSA: a PEM SPKI public key to verify, and optionally the PKCS #8 private key to issue
 * tokens (dev login); without it the gateway only verifies tokens signed elsewhere.
 */
export type TokenKeys =
  | { alg: 'HS256'; secret: string }
  | { alg: 'RS256' | 'EdDSA'; publicKey: string; privateKey: string | null };

interface TokenPolicy {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  now?: () => number;
}

export type TokenServiceOptions = TokenPolicy & { keys: TokenKeys };

/** Raised when the configured key material cannot be used for the configured algorithm. */
export class TokenKeyError extends Error {
  override readonly name = 'TokenKeyError';
}

/**
 * The session token service for the configured algorithm. Asymmetric keys are imported here, so a
 * key that does not fit the algorithm fails at startup (`TokenKeyError`), not at the first socket.
 */
export async function createTokenService(opts: TokenServiceOptions): Promise<TokenService> {
  const { keys, ...policy } = opts;
  if (keys.alg === 'HS256') return hs256Tokens({ ...policy, secret: keys.secret });
  const { alg, publicKey, privateKey } = keys;
  const verifyKey = await importKey('JWT_PUBLIC_KEY', alg, () => importSPKI(publicKey, alg));
  const signKey = privateKey === null ? null : await importKey('JWT_PRIVATE_KEY', alg, () => importPKCS8(privateKey, alg));
  return pinnedTokens(alg, verifyKey, signKey, policy);
}

/** HS256 with the algorithm pinned; `exp`, `iss` and `aud` are checked by jose. */
export function hs256Tokens(opts: TokenPolicy & { secret: string }): TokenService {
  const key = new TextEncoder().encode(opts.secret);
  return pinnedTokens('HS256', key, key, opts);
}

async function importKey(variable: string, alg: TokenAlgorithm, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  try {
    return await load();
  } catch (err) {
    throw new TokenKeyError(`${variable} cannot be used with JWT_ALG=${alg}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * One algorithm, pinned: a token whose header names any other (`none`, HS256 signed with the
 * public key as secret, another asymmetric algorithm) is refused before its signature is looked at.
 */
function pinnedTokens(alg: TokenAlgorithm, verifyKey: CryptoKey | Uint8Array, signKey: CryptoKey | Uint8Array | null, opts: TokenPolicy): TokenService {
  const now = opts.now ?? Date.now;
  return {
    async issue(user) {
      if (signKey === null) {
        throw new Error(`cannot issue session tokens: JWT_ALG=${alg} is configured without a private key (JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE)`);
      }
      const iat = Math.floor(now() / 1000);
      const exp = iat + opts.ttlSeconds;
      const token = await new SignJWT({ name: user.username, role: user.role, avatar_url: user.avatar_url })
        .setProtectedHeader({ alg, typ: 'JWT' })
        .setSubject(String(user.id))
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(signKey);
      return { token, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, verifyKey, {
          algorithms: [alg],
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
