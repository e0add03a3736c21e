import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/**
 * Siteflow's signing keys as a JSON Web Key Set (RFC 7517), from its endpoint or from a file, so
 * the issuer can rotate keys (publish the new one, sign with it, drop the old one) without a
 * gateway restart. Tokens name their key by `kid`; a kid the set does not hold makes the set be
 * read again, at most once per cooldown, so a flood of made-up kids cannot turn into a flood of
 * fetches.
 */
export type KeySetSource =
  | {
      /** `JWT_JWKS_URL`. */
      url: string;
      /** Least time between two fetches caused by an unknown kid. */
      cooldownMs: number;
      /** Fetched keys are used this long, then fetched again (bounds how long a removed key works). */
      maxAgeMs: number;
    }
  | {
      /** `JWT_JWKS_FILE`, read again whenever it changed. */
      file: string;
      /** Least time between two reads caused by an unknown kid. */
      cooldownMs: number;
    };

/**
 * The key set could not be fetched or read: the token may well be good, the gateway cannot tell.
 * Not a JOSE error on purpose: it is the gateway's problem (logged, HTTP 500), not a refusal.
 */
export class KeySetUnavailable extends Error {
  override readonly name = 'KeySetUnavailable';
}

/** Time the JWKS endpoint gets to answer before the handshake waiting on it fails. */
const FETCH_TIMEOUT_MS = 5_000;

/** The key a token names (by `kid`) in the configured set. */
export function keySetLookup(source: KeySetSource, now: () => number = Date.now): JWTVerifyGetKey {
  return 'url' in source ? remoteKeySet(source) : fileKeySet(source, now);
}

function remoteKeySet(source: Extract<KeySetSource, { url: string }>): JWTVerifyGetKey {
  const set = createRemoteJWKSet(new URL(source.url), {
    cooldownDuration: source.cooldownMs,
    cacheMaxAge: source.maxAgeMs,
    timeoutDuration: FETCH_TIMEOUT_MS,
  });
  return async (header, token) => {
    try {
      return await set(header, token);
    } catch (err) {
      throw asTokenRefusalOr(err, `JWT_JWKS_URL ${source.url}`);
    }
  };
}

function fileKeySet(source: Extract<KeySetSource, { file: string }>, now: () => number): JWTVerifyGetKey {
  interface Loaded {
    lookup: JWTVerifyGetKey;
    /** Identity and timestamps of the file read, to notice a rewrite or a replaced file. */
    version: string;
    readAt: number;
  }
  let current: Loaded | undefined;
  let pending: Promise<Loaded> | undefined;
  const where = `JWT_JWKS_FILE ${source.file}`;

  const versionOf = async () => {
    // stat follows symlinks: a Kubernetes secret swapped under its `..data` link is a new inode.
    const s = await stat(source.file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  };
  const read = async (version: string): Promise<Loaded> => {
    const text = await readFile(source.file, 'utf8');
    // createLocalJWKSet checks the shape itself (and throws on a file that is not a key set).
    const loaded = { lookup: createLocalJWKSet(JSON.parse(text) as JSONWebKeySet), version, readAt: now() };
    current = loaded;
    return loaded;
  };
  /** One read at a time; handshakes arriving meanwhile wait for it. */
  const reload = (version: string) => (pending ??= read(version).finally(() => (pending = undefined)));
  const latest = async () => {
    try {
      const version = await versionOf();
      return current?.version === version ? current : await reload(version);
    } catch (err) {
      throw asTokenRefusalOr(err, where);
    }
  };

  return async (header, token) => {
    const loaded = await latest();
    try {
      return await loaded.lookup(header, token);
    } catch (err) {
      const unknownKid = err instanceof joseErrors.JWKSNoMatchingKey;
      if (!unknownKid || now() - loaded.readAt < source.cooldownMs) throw asTokenRefusalOr(err, where);
    }
    // A rewrite within the file system's timestamp granularity leaves the version as it was.
    let again: Loaded;
    try {
      again = await reload(await versionOf());
    } catch (err) {
      throw asTokenRefusalOr(err, where);
    }
    try {
      return await again.lookup(header, token);
    } catch (err) {
      throw asTokenRefusalOr(err, where);
    }
  };
}

/**
 * A kid the set does not hold (or holds twice) is the token's problem and refuses it; anything
 * else (unreachable, not JSON, not a key set, a private key in it) is the set's.
 */
function asTokenRefusalOr(err: unknown, where: string): unknown {
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return err;
  return new KeySetUnavailable(`${where}: ${reasonOf(err)}`, { cause: err });
}

/** The message and its causes: fetch's "fetch failed" says why only in its cause. */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause === undefined ? err.message : `${err.message} (${reasonOf(err.cause)})`;
}
