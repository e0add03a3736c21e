import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeySetSource } from './key-sets.js';
import type { TokenKeys } from './tokens.js';

/**
 * Asymmetric session-token keys from configuration, checked before anything listens: a key of the
 * wrong kind or size, or a private key that does not belong to the public key, is a startup error
 * naming the variable, not a gateway that refuses (or, worse, accepts) tokens later.
 */

/** A problem with one variable, reported by the configuration as `VARIABLE: message`. */
export interface KeyIssue {
  variable: string;
  message: string;
}

export interface AsymmetricKeySources {
  alg: 'RS256' | 'EdDSA';
  publicKey: string | undefined;
  publicKeyFile: string | undefined;
  privateKey: string | undefined;
  privateKeyFile: string | undefined;
  /** JWT_JWKS_URL or JWT_JWKS_FILE, instead of the public key. */
  keySet: KeySetSource | undefined;
}

/** Smallest RSA modulus accepted for RS256 (RFC 7518 §3.3). */
export const MIN_RSA_BITS = 2048;

/**
 * The key pair for `alg` from the PEM text in `JWT_PUBLIC_KEY`/`JWT_PRIVATE_KEY` (literal `\n`
 * escapes, as env files write them, become newlines) or the files named by the `_FILE` variants.
 * Which of text and file is set is checked by the configuration before this runs.
 */
export function loadAsymmetricKeys(src: AsymmetricKeySources): { keys: TokenKeys } | { issues: KeyIssue[] } {
  const issues: KeyIssue[] = [];
  if (src.keySet !== undefined) {
    const privatePem = readPem('JWT_PRIVATE_KEY', src.privateKey, src.privateKeyFile, issues);
    if (privatePem !== undefined) parsePrivateKey(privatePem, src.alg, issues);
    if ('file' in src.keySet) checkKeySetFile(src.keySet.file, src.alg, issues);
    if (issues.length > 0) return { issues };
    return { keys: { alg: src.alg, keySet: src.keySet, privateKey: privatePem ?? null } };
  }
  const publicPem = readPem('JWT_PUBLIC_KEY', src.publicKey, src.publicKeyFile, issues);
  const privatePem = readPem('JWT_PRIVATE_KEY', src.privateKey, src.privateKeyFile, issues);
  const publicKey = publicPem === undefined ? undefined : parsePublicKey(publicPem, src.alg, issues);
  const privateKey = privatePem === undefined ? undefined : parsePrivateKey(privatePem, src.alg, issues);
  if (publicKey && privateKey && !samePublicKey(publicKey, createPublicKey(privateKey))) {
    issues.push({
      variable: 'JWT_PRIVATE_KEY',
      message: 'is not the private half of JWT_PUBLIC_KEY: tokens it signed would be refused by this gateway',
    });
  }
  if (issues.length > 0 || publicPem === undefined) return { issues };
  return { keys: { alg: src.alg, publicKey: publicPem, privateKey: privatePem ?? null } };
}

function readPem(variable: string, text: string | undefined, file: string | undefined, issues: KeyIssue[]): string | undefined {
  if (text !== undefined) return text.replace(/\\n/g, '\n').trim();
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    issues.push({ variable: `${variable}_FILE`, message: `cannot read ${file} (${code})` });
    return undefined;
  }
}

function parsePublicKey(pem: string, alg: AsymmetricKeySources['alg'], issues: KeyIssue[]): KeyObject | undefined {
  const variable = 'JWT_PUBLIC_KEY';
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    issues.push({ variable, message: 'holds a private key; give the public key (openssl pkey -in jwt.key -pubout -out jwt.pub)' });
    return undefined;
  }
  if (pem.includes('-----BEGIN CERTIFICATE-----')) {
    issues.push({ variable, message: 'holds a certificate; give its public key (openssl x509 -in cert.pem -pubkey -noout)' });
    return undefined;
  }
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    issues.push({ variable, message: 'must be a PEM SPKI public key (-----BEGIN PUBLIC KEY-----)' });
    return undefined;
  }
  return toKeyObject(variable, 'public', pem, alg, issues);
}

function parsePrivateKey(pem: string, alg: AsymmetricKeySources['alg'], issues: KeyIssue[]): KeyObject | undefined {
  const variable = 'JWT_PRIVATE_KEY';
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    const hint = /-----BEGIN (RSA |EC |ENCRYPTED )PRIVATE KEY-----/.test(pem)
      ? ' (convert it with: openssl pkcs8 -topk8 -nocrypt -in old.key -out jwt.key)'
      : '';
    issues.push({ variable, message: `must be an unencrypted PEM PKCS #8 private key (-----BEGIN PRIVATE KEY-----)${hint}` });
    return undefined;
  }
  return toKeyObject(variable, 'private', pem, alg, issues);
}

/** Reads a PEM key of that kind and checks that it fits the algorithm. */
function toKeyObject(
  variable: string,
  kind: 'public' | 'private',
  pem: string,
  alg: AsymmetricKeySources['alg'],
  issues: KeyIssue[],
): KeyObject | undefined {
  let key: KeyObject;
  try {
    key = kind === 'public' ? createPublicKey({ key: pem, format: 'pem' }) : createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    issues.push({ variable, message: `is not a readable PEM ${kind} key (${err instanceof Error ? err.message : String(err)})` });
    return undefined;
  }
  return checkKeyFitsAlgorithm(variable, key, alg, issues) ? key : undefined;
}

function checkKeyFitsAlgorithm(
  variable: string,
  key: KeyObject,
  alg: AsymmetricKeySources['alg'],
  issues: KeyIssue[],
  subject = '',
): boolean {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (alg === 'RS256') {
    if (type !== 'rsa') {
      issues.push({
        variable,
        message: `${subject}holds a key of type ${type}, but JWT_ALG=RS256 needs an RSA key (rsaEncryption) of at least ${MIN_RSA_BITS} bits`,
      });
      return false;
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      issues.push({ variable, message: `${subject}is a ${bits}-bit RSA key; JWT_ALG=RS256 needs at least ${MIN_RSA_BITS} bits` });
      return false;
    }
    return true;
  }
  if (type !== 'ed25519') {
    issues.push({ variable, message: `${subject}holds a key of type ${type}, but JWT_ALG=EdDSA needs an Ed25519 key` });
    return false;
  }
  return true;
}

/** What a JWK must be for a token of `alg` to be verified with it (as jose selects keys from a set). */
const SET_KEY_FOR: Record<AsymmetricKeySources['alg'], { kty: string; crv?: string; wanted: string }> = {
  RS256: { kty: 'RSA', wanted: `an RSA key (kty RSA) of at least ${MIN_RSA_BITS} bits` },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', wanted: 'an Ed25519 key (kty OKP, crv Ed25519)' },
};

/**
 * The JWKS file as startup reads it: JSON, a key set of public keys only, and at least one key with
 * a kid that tokens of JWT_ALG can name. Keys meant for other algorithms or for encryption may sit
 * beside them (a set can serve several relying parties); they are never used.
 */
function checkKeySetFile(file: string, alg: AsymmetricKeySources['alg'], issues: KeyIssue[]): void {
  const variable = 'JWT_JWKS_FILE';
  const issuesBefore = issues.length;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    issues.push({ variable, message: `cannot read ${file} (${code})` });
    return;
  }
  let set: unknown;
  try {
    set = JSON.parse(text);
  } catch (err) {
    issues.push({ variable, message: `${file} is not JSON (${err instanceof Error ? err.message : String(err)})` });
    return;
  }
  const keys = typeof set === 'object' && set !== null ? (set as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) {
    issues.push({ variable, message: `${file} is not a JSON Web Key Set ({"keys": [ {…}, … ]})` });
    return;
  }
  const wanted = SET_KEY_FOR[alg];
  let usable = 0;
  for (const [i, jwk] of (keys as Record<string, unknown>[]).entries()) {
    const name = typeof jwk.kid === 'string' ? `key "${jwk.kid}"` : `key #${i + 1}`;
    if (['d', 'p', 'q', 'k'].some((member) => member in jwk)) {
      issues.push({ variable, message: `${name} is a private or secret key: publish only public keys` });
      continue;
    }
    const fits =
      jwk.kty === wanted.kty &&
      (wanted.crv === undefined || jwk.crv === wanted.crv) &&
      (jwk.alg === undefined || jwk.alg === alg) &&
      (jwk.use === undefined || jwk.use === 'sig');
    if (!fits || typeof jwk.kid !== 'string' || jwk.kid === '') continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (err) {
      issues.push({ variable, message: `${name} is not a readable public key (${err instanceof Error ? err.message : String(err)})` });
      continue;
    }
    if (checkKeyFitsAlgorithm(variable, key, alg, issues, `${name} `)) usable += 1;
  }
  if (usable === 0 && issues.length === issuesBefore) {
    issues.push({ variable, message: `${file} holds no key for JWT_ALG=${alg}: it needs ${wanted.wanted} with a kid` });
  }
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}
