import { createPrivateKey, createPublicKey } from 'node:crypto';
import {
  calculateJwkThumbprint,
  importJWK,
  importPKCS8,
  importSPKI,
  jwtVerify,
  SignJWT,
  errors as joseErrors,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { scopesOf, TokenClaims } from '@siteflow/contracts';
import { keySetLookup, type KeySetSource } from './key-sets.js';

/** The authenticated user of a socket, from a verified token. */
export interface SessionUser {
  id: number;
  username: string;
  role: 'admin' | 'customer';
  avatar_url: string;
  /** The token's OAuth 2 scopes (`scope` claim), e.g. `projects:admin`; empty when it has none. */
  scopes: string[];
  /** Token expiry, ms since epoch: the socket is closed then. */
  expiresAt: number;
}

export interface TokenService {
  /** Signs a session token; throws when this gateway holds no signing key (verify-only). */
  issue(
    user: { id: number; username: string; role: 'admin' | 'customer'; avatar_url: string },
    grant?: { scopes?: readonly string[] },
  ): Promise<{ token: string; expiresAt: Date }>;
  /** The token's user, or null when the token is refused; rejects (`KeySetUnavailable`) when the key set cannot be had. */
  verify(token: string): Promise<SessionUser | null>;
}

/** The signature algorithms a gateway can be configured for; exactly one is accepted at a time. */
export const TOKEN_ALGORITHMS = ['HS256', 'RS256', 'EdDSA'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];
export type AsymmetricAlgorithm = Exclude<TokenAlgorithm, 'HS256'>;

/**
 * The key material for one pinned algorithm. HS256: a shared secret (at least 32 bytes).
 * RS256/EdDSA: a PEM SPKI public key to verify, or a key set (JWKS) whose keys tokens name by
 * `kid`; and optionally the PKCS #8 private key to issue tokens (dev login); without it the
 * gateway only verifies tokens signed elsewhere.
 */
export type TokenKeys =
  | { alg: 'HS256'; secret: string }
  | { alg: AsymmetricAlgorithm; publicKey: string; privateKey: string | null }
  | { alg: AsymmetricAlgorithm; keySet: KeySetSource; privateKey: string | null };

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
  const { alg, privateKey } = keys;
  const signKey = privateKey === null ? null : await importKey('JWT_PRIVATE_KEY', alg, () => importPKCS8(privateKey, alg));
  if ('publicKey' in keys) {
    const verifyKey = await importKey('JWT_PUBLIC_KEY', alg, () => importSPKI(keys.publicKey, alg));
    return pinnedTokens(alg, verifyKey, signKey, policy);
  }
  const fromSet = keySetLookup(keys.keySet);
  const own = privateKey === null ? null : await ownVerificationKey(alg, privateKey);
  // Keys are chosen by kid only: a kid-less token would let the set's single key (or none) decide.
  const resolve: JWTVerifyGetKey = (header, token) => {
    if (typeof header.kid !== 'string' || header.kid === '')
      throw new joseErrors.JWSInvalid('a token verified with a key set must name its key (kid)');
    if (own !== null && header.kid === own.kid) return own.key;
    return fromSet(header, token);
  };
  return pinnedTokens(alg, resolve, signKey, policy, own?.kid);
}

/**
 * With a key set, the tokens this gateway signs itself (dev login) name its own key by the key's
 * RFC 7638 thumbprint, and are verified with that key: the set holds the issuer's keys, not ours.
 */
async function ownVerificationKey(alg: AsymmetricAlgorithm, privateKeyPem: string): Promise<{ kid: string; key: CryptoKey }> {
  const jwk = createPublicKey(createPrivateKey({ key: privateKeyPem, format: 'pem' })).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  const key = await importKey('JWT_PRIVATE_KEY', alg, async () => (await importJWK(jwk, alg)) as CryptoKey);
  return { kid, key };
}

/** HS256 with the algorithm pinned; `exp`, `iss` and `aud` are checked by jose. */
export function hs256Tokens(opts: TokenPolicy & { secret: string }): TokenService {
  const secret = new TextEncoder().encode(opts.secret);
  // Given the secret's bytes, jose imports them as a CryptoKey on every verify (profiled: about half
  // of a socket's token check in a reconnect storm); imported once, each verify only checks the MAC.
  const verifyKey = crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return pinnedTokens('HS256', () => verifyKey, secret, opts);
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
function pinnedTokens(
  alg: TokenAlgorithm,
  verifyKey: CryptoKey | Uint8Array | JWTVerifyGetKey,
  signKey: CryptoKey | Uint8Array | null,
  opts: TokenPolicy,
  signKid?: string,
): TokenService {
  const now = opts.now ?? Date.now;
  const verifyWith = (token: string, options: JWTVerifyOptions) =>
    typeof verifyKey === 'function' ? jwtVerify(token, verifyKey, options) : jwtVerify(token, verifyKey, options);
  return {
    async issue(user, grant) {
      if (signKey === null) {
        throw new Error(
          `cannot issue session tokens: JWT_ALG=${alg} is configured without a private key (JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE)`,
        );
      }
      const iat = Math.floor(now() / 1000);
      const exp = iat + opts.ttlSeconds;
      const scope = scopesOf(grant?.scopes?.join(' ')).join(' ');
      const token = await new SignJWT({
        username: user.username,
        role: user.role,
        avatar_url: user.avatar_url,
        ...(scope ? { scope } : {}),
      })
        .setProtectedHeader({ alg, typ: 'JWT', ...(signKid === undefined ? {} : { kid: signKid }) })
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
        const { payload } = await verifyWith(token, {
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
          username: claims.data.username ?? claims.data.name ?? '',
          role: claims.data.role,
          avatar_url: claims.data.avatar_url ?? '',
          scopes: scopesOf(claims.data.scope),
          expiresAt: payload.exp * 1000,
        };
      } catch (e) {
        // A bad token is refused; a key set that cannot be read (KeySetUnavailable) is thrown, so
        // the handshake fails loudly instead of blaming the token.
        if (e instanceof joseErrors.JOSEError) return null;
        throw e;
      }
    },
  };
}
