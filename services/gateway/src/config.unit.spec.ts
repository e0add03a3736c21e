import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeIssues } from '@siteflow/contracts';
import { GatewayConfig } from './config.js';

const secret = 'test-secret-that-is-at-least-32-bytes-long!';
const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const ed = generateKeyPairSync('ed25519');
const otherEd = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** The startup message `loadGatewayConfig` would print (before exiting 78), or the parsed keys. */
function parse(env: Record<string, string>) {
  const result = GatewayConfig.safeParse(env);
  return result.success ? { keys: result.data.jwtKeys, error: null } : { keys: null, error: describeIssues(result.error) };
}

describe('gateway configuration: session-token keys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gateway-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to HS256 with JWT_SECRET, as before', () => {
    expect(parse({ JWT_SECRET: secret })).toEqual({ keys: { alg: 'HS256', secret }, error: null });
    expect(parse({}).error).toBe('JWT_SECRET: is required with JWT_ALG=HS256 (at least 32 characters)');
    expect(parse({ JWT_SECRET: 'too-short' }).error).toBe('JWT_SECRET: must be at least 32 characters');
  });

  it('does not keep the raw secrets beside the parsed keys', () => {
    const result = GatewayConfig.parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(ed.privateKey), JWT_SECRET: secret });
    expect(Object.keys(result).filter((k) => k.startsWith('JWT_'))).toEqual(expect.arrayContaining(['JWT_ALG', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_TTL_S']));
    expect(result).not.toHaveProperty('JWT_SECRET');
    expect(result).not.toHaveProperty('JWT_PRIVATE_KEY');
  });

  it('refuses keys while JWT_ALG stayed HS256 (a forgotten JWT_ALG)', () => {
    expect(parse({ JWT_SECRET: secret, JWT_PUBLIC_KEY: spki(ed.publicKey) }).error).toBe(
      'JWT_PUBLIC_KEY: is set but JWT_ALG is HS256 (the default): set JWT_ALG=RS256 or JWT_ALG=EdDSA to use keys',
    );
  });

  it('refuses an unknown algorithm, "none" included', () => {
    expect(parse({ JWT_ALG: 'none', JWT_SECRET: secret }).error).toMatch(/^JWT_ALG: /);
    expect(parse({ JWT_ALG: 'HS512', JWT_SECRET: secret }).error).toMatch(/^JWT_ALG: /);
  });

  it('accepts EdDSA with a public key given as text with literal \\n escapes, and ignores JWT_SECRET', () => {
    const escaped = spki(ed.publicKey).replace(/\n/g, '\\n');
    expect(escaped).not.toContain('\n');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: escaped, JWT_SECRET: 'short' })).toEqual({
      keys: { alg: 'EdDSA', publicKey: spki(ed.publicKey).trim(), privateKey: null },
      error: null,
    });
  });

  it('accepts RS256 with both keys from files', () => {
    writeFileSync(path.join(dir, 'rsa.pub'), spki(rsa.publicKey));
    writeFileSync(path.join(dir, 'rsa.key'), pkcs8(rsa.privateKey));
    const { keys, error } = parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY_FILE: path.join(dir, 'rsa.pub'), JWT_PRIVATE_KEY_FILE: path.join(dir, 'rsa.key'), DEV_LOGIN: 'true' });
    expect(error).toBeNull();
    expect(keys).toEqual({ alg: 'RS256', publicKey: spki(rsa.publicKey).trim(), privateKey: pkcs8(rsa.privateKey).trim() });
  });

  it('names what is missing or doubled', () => {
    expect(parse({ JWT_ALG: 'RS256' }).error).toBe('JWT_PUBLIC_KEY: JWT_ALG=RS256 needs a public key: set JWT_PUBLIC_KEY (PEM) or JWT_PUBLIC_KEY_FILE (path)');
    // An empty variable (compose's `${VAR:-}`) is no key either.
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: '' }).error).toMatch(/^JWT_PUBLIC_KEY: JWT_ALG=EdDSA needs a public key/);
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PUBLIC_KEY_FILE: '/etc/jwt.pub' }).error).toBe(
      'JWT_PUBLIC_KEY: set JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE, not both',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY_FILE: path.join(dir, 'missing.pub') }).error).toBe(
      `JWT_PUBLIC_KEY_FILE: cannot read ${path.join(dir, 'missing.pub')} (ENOENT)`,
    );
  });

  it('refuses dev login with an asymmetric algorithm and no private key to sign with', () => {
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), DEV_LOGIN: 'true' }).error).toBe(
      'DEV_LOGIN: dev login issues tokens, which JWT_ALG=EdDSA signs with the private key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE, or DEV_LOGIN=false',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(ed.privateKey), DEV_LOGIN: 'true' }).error).toBeNull();
  });

  it('refuses a key of the wrong type for the algorithm', () => {
    expect(parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: spki(ed.publicKey) }).error).toBe(
      'JWT_PUBLIC_KEY: holds a key of type ed25519, but JWT_ALG=RS256 needs an RSA key (rsaEncryption) of at least 2048 bits',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(rsa.publicKey) }).error).toBe('JWT_PUBLIC_KEY: holds a key of type rsa, but JWT_ALG=EdDSA needs an Ed25519 key');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ec.publicKey) }).error).toBe('JWT_PUBLIC_KEY: holds a key of type ec, but JWT_ALG=EdDSA needs an Ed25519 key');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(rsa.privateKey) }).error).toBe(
      'JWT_PRIVATE_KEY: holds a key of type rsa, but JWT_ALG=EdDSA needs an Ed25519 key',
    );
  });

  it('refuses an RSA key shorter than 2048 bits', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: spki(weak.publicKey) }).error).toBe('JWT_PUBLIC_KEY: is a 1024-bit RSA key; JWT_ALG=RS256 needs at least 2048 bits');
  });

  it('refuses what is not a public key where one belongs, and a private key in the wrong format', () => {
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: pkcs8(ed.privateKey) }).error).toBe(
      'JWT_PUBLIC_KEY: holds a private key; give the public key (openssl pkey -in jwt.key -pubout -out jwt.pub)',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: 'not a key' }).error).toBe('JWT_PUBLIC_KEY: must be a PEM SPKI public key (-----BEGIN PUBLIC KEY-----)');
    const mangled = spki(ed.publicKey).replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: mangled }).error).toMatch(/^JWT_PUBLIC_KEY: is not a readable PEM public key/);
    const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: spki(rsa.publicKey), JWT_PRIVATE_KEY: pkcs1 }).error).toBe(
      'JWT_PRIVATE_KEY: must be an unencrypted PEM PKCS #8 private key (-----BEGIN PRIVATE KEY-----) (convert it with: openssl pkcs8 -topk8 -nocrypt -in old.key -out jwt.key)',
    );
  });

  it('refuses a private key that is not the public key\'s other half', () => {
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(otherEd.privateKey) }).error).toBe(
      'JWT_PRIVATE_KEY: is not the private half of JWT_PUBLIC_KEY: tokens it signed would be refused by this gateway',
    );
  });
});
