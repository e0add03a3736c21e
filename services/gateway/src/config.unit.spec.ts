import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeIssues } from '@siteflow/contracts';
import { parseConfig } from '@siteflow/messaging';
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
    const result = GatewayConfig.parse({
      JWT_ALG: 'EdDSA',
      JWT_PUBLIC_KEY: spki(ed.publicKey),
      JWT_PRIVATE_KEY: pkcs8(ed.privateKey),
      JWT_SECRET: secret,
    });
    expect(Object.keys(result).filter((k) => k.startsWith('JWT_'))).toEqual(
      expect.arrayContaining(['JWT_ALG', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_TTL_S']),
    );
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
    const { keys, error } = parse({
      JWT_ALG: 'RS256',
      JWT_PUBLIC_KEY_FILE: path.join(dir, 'rsa.pub'),
      JWT_PRIVATE_KEY_FILE: path.join(dir, 'rsa.key'),
      DEV_LOGIN: 'true',
    });
    expect(error).toBeNull();
    expect(keys).toEqual({ alg: 'RS256', publicKey: spki(rsa.publicKey).trim(), privateKey: pkcs8(rsa.privateKey).trim() });
  });

  it('names what is missing or doubled', () => {
    expect(parse({ JWT_ALG: 'RS256' }).error).toBe(
      'JWT_PUBLIC_KEY: JWT_ALG=RS256 needs a public key: set JWT_PUBLIC_KEY (PEM) or JWT_PUBLIC_KEY_FILE (path), or a key set: JWT_JWKS_URL or JWT_JWKS_FILE',
    );
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
    expect(
      parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(ed.privateKey), DEV_LOGIN: 'true' }).error,
    ).toBeNull();
  });

  it('refuses a key of the wrong type for the algorithm', () => {
    expect(parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: spki(ed.publicKey) }).error).toBe(
      'JWT_PUBLIC_KEY: holds a key of type ed25519, but JWT_ALG=RS256 needs an RSA key (rsaEncryption) of at least 2048 bits',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(rsa.publicKey) }).error).toBe(
      'JWT_PUBLIC_KEY: holds a key of type rsa, but JWT_ALG=EdDSA needs an Ed25519 key',
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ec.publicKey) }).error).toBe(
      'JWT_PUBLIC_KEY: holds a key of type ec, but JWT_ALG=EdDSA needs an Ed25519 key',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(rsa.privateKey) }).error).toBe(
      'JWT_PRIVATE_KEY: holds a key of type rsa, but JWT_ALG=EdDSA needs an Ed25519 key',
    );
  });

  it('refuses an RSA key shorter than 2048 bits', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: spki(weak.publicKey) }).error).toBe(
      'JWT_PUBLIC_KEY: is a 1024-bit RSA key; JWT_ALG=RS256 needs at least 2048 bits',
    );
  });

  it('refuses what is not a public key where one belongs, and a private key in the wrong format', () => {
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: pkcs8(ed.privateKey) }).error).toBe(
      'JWT_PUBLIC_KEY: holds a private key; give the public key (openssl pkey -in jwt.key -pubout -out jwt.pub)',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: 'not a key' }).error).toBe(
      'JWT_PUBLIC_KEY: must be a PEM SPKI public key (-----BEGIN PUBLIC KEY-----)',
    );
    const mangled = spki(ed.publicKey).replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: mangled }).error).toMatch(/^JWT_PUBLIC_KEY: is not a readable PEM public key/);
    const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(parse({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: spki(rsa.publicKey), JWT_PRIVATE_KEY: pkcs1 }).error).toBe(
      'JWT_PRIVATE_KEY: must be an unencrypted PEM PKCS #8 private key (-----BEGIN PRIVATE KEY-----) (convert it with: openssl pkcs8 -topk8 -nocrypt -in old.key -out jwt.key)',
    );
  });

  it("refuses a private key that is not the public key's other half", () => {
    expect(parse({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: spki(ed.publicKey), JWT_PRIVATE_KEY: pkcs8(otherEd.privateKey) }).error).toBe(
      'JWT_PRIVATE_KEY: is not the private half of JWT_PUBLIC_KEY: tokens it signed would be refused by this gateway',
    );
  });
});

describe('gateway configuration: a key set (JWKS) from the issuer', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gateway-jwks-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const jwk = (key: KeyObject, kid?: string) => ({ ...key.export({ format: 'jwk' }), ...(kid === undefined ? {} : { kid }) });
  let files = 0;
  const setFile = (content: unknown) => {
    const file = path.join(dir, `jwks-${++files}.json`);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  it('takes JWT_JWKS_URL (https, or http on loopback) with its cooldown and max age, and drops the raw variables', () => {
    const result = GatewayConfig.parse({
      JWT_ALG: 'EdDSA',
      JWT_JWKS_URL: 'https://siteflow.example/.well-known/jwks.json',
      JWT_JWKS_COOLDOWN_MS: '1000',
    });
    expect(result.jwtKeys).toEqual({
      alg: 'EdDSA',
      keySet: { url: 'https://siteflow.example/.well-known/jwks.json', cooldownMs: 1000, maxAgeMs: 600_000 },
      privateKey: null,
    });
    expect(Object.keys(result).filter((k) => k.startsWith('JWT_JWKS'))).toEqual([]);
    for (const url of ['http://127.0.0.1:8080/jwks.json', 'http://localhost/jwks', 'http://[::1]:9/jwks']) {
      expect(parse({ JWT_ALG: 'RS256', JWT_JWKS_URL: url }).error).toBeNull();
    }
  });

  it('takes JWT_JWKS_FILE once startup read it as a set of public keys of JWT_ALG with kids', () => {
    const file = setFile({
      keys: [jwk(ed.publicKey, 'a'), jwk(rsa.publicKey, 'rsa-for-someone-else'), { kty: 'oct', use: 'enc', kid: 'x', alg: 'A256GCM' }],
    });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: file })).toEqual({
      keys: { alg: 'EdDSA', keySet: { file, cooldownMs: 30_000 }, privateKey: null },
      error: null,
    });
  });

  it('refuses a key set with HS256 (a set holds public keys)', () => {
    expect(parse({ JWT_SECRET: secret, JWT_JWKS_URL: 'https://siteflow.example/jwks' }).error).toBe(
      'JWT_JWKS_URL: is set but JWT_ALG is HS256 (the default): a key set holds public keys, set JWT_ALG=RS256 or JWT_ALG=EdDSA',
    );
    expect(parse({ JWT_ALG: 'HS256', JWT_SECRET: secret, JWT_JWKS_FILE: '/etc/jwks.json' }).error).toBe(
      'JWT_JWKS_FILE: is set but JWT_ALG is HS256 (the default): a key set holds public keys, set JWT_ALG=RS256 or JWT_ALG=EdDSA',
    );
  });

  it('refuses two sources of keys: URL and file, or a key set and a public key', () => {
    const file = setFile({ keys: [jwk(ed.publicKey, 'a')] });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: 'https://siteflow.example/jwks', JWT_JWKS_FILE: file }).error).toBe(
      'JWT_JWKS_URL: set JWT_JWKS_URL or JWT_JWKS_FILE, not both',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: file, JWT_PUBLIC_KEY: spki(ed.publicKey) }).error).toBe(
      "JWT_PUBLIC_KEY: is set beside JWT_JWKS_FILE: tokens are verified with the key set's keys, set one of them",
    );
  });

  it('refuses a URL that is not one, plain http off loopback, and other schemes', () => {
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: 'siteflow/jwks' }).error).toBe('JWT_JWKS_URL: is not a URL: "siteflow/jwks"');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: 'http://siteflow:8080/jwks' }).error).toBe(
      'JWT_JWKS_URL: must be https (keys fetched over plain http can be replaced on the way); http is accepted only on loopback',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: 'file:///etc/jwks.json' }).error).toBe('JWT_JWKS_URL: must be an https URL, not file:');
  });

  it('names what is wrong with the file: missing, not JSON, not a set, private keys, no usable key, a weak or broken key', () => {
    const missing = path.join(dir, 'missing.json');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: missing }).error).toBe(`JWT_JWKS_FILE: cannot read ${missing} (ENOENT)`);
    const notJson = setFile('{"keys": [');
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: notJson }).error).toMatch(new RegExp(`^JWT_JWKS_FILE: ${notJson} is not JSON \\(`));
    const notSet = setFile([jwk(ed.publicKey, 'a')]);
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: notSet }).error).toBe(
      `JWT_JWKS_FILE: ${notSet} is not a JSON Web Key Set ({"keys": [ {…}, … ]})`,
    );
    const withPrivate = setFile({ keys: [{ ...ed.privateKey.export({ format: 'jwk' }), kid: 'oops' }] });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: withPrivate }).error).toBe(
      'JWT_JWKS_FILE: key "oops" is a private or secret key: publish only public keys',
    );
    const rsaOnly = setFile({ keys: [jwk(rsa.publicKey, 'r')] });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: rsaOnly }).error).toBe(
      `JWT_JWKS_FILE: ${rsaOnly} holds no key for JWT_ALG=EdDSA: it needs an Ed25519 key (kty OKP, crv Ed25519) with a kid`,
    );
    // Tokens must name their key, so a key without a kid can never be chosen.
    const noKid = setFile({ keys: [jwk(ed.publicKey)] });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: noKid }).error).toMatch(/^JWT_JWKS_FILE: .* holds no key for JWT_ALG=EdDSA/);
    const weak = setFile({
      keys: [jwk(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'weak'), jwk(rsa.publicKey, 'good')],
    });
    expect(parse({ JWT_ALG: 'RS256', JWT_JWKS_FILE: weak }).error).toBe(
      'JWT_JWKS_FILE: key "weak" is a 1024-bit RSA key; JWT_ALG=RS256 needs at least 2048 bits',
    );
    const broken = setFile({ keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'b', x: 'AAAA' }] });
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: broken }).error).toMatch(/^JWT_JWKS_FILE: key "b" is not a readable public key \(/);
  });

  it('dev login with a key set needs the private key it signs with, and checks it fits JWT_ALG', () => {
    const url = 'https://siteflow.example/jwks';
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: url, DEV_LOGIN: 'true' }).error).toBe(
      'DEV_LOGIN: dev login issues tokens, which JWT_ALG=EdDSA signs with the private key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE, or DEV_LOGIN=false',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: url, DEV_LOGIN: 'true', JWT_PRIVATE_KEY: pkcs8(rsa.privateKey) }).error).toBe(
      'JWT_PRIVATE_KEY: holds a key of type rsa, but JWT_ALG=EdDSA needs an Ed25519 key',
    );
    expect(parse({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: url, DEV_LOGIN: 'true', JWT_PRIVATE_KEY: pkcs8(ed.privateKey) })).toEqual({
      keys: { alg: 'EdDSA', keySet: { url, cooldownMs: 30_000, maxAgeMs: 600_000 }, privateKey: pkcs8(ed.privateKey).trim() },
      error: null,
    });
  });
});

describe('gateway configuration: the shared loader', () => {
  it('a bad value is refused with a startup message naming the variable, as every service words it', () => {
    const result = parseConfig(GatewayConfig, { JWT_SECRET: secret, PORT: 'eighty', DEV_LOGIN: 'maybe' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toMatch(/^invalid configuration: /);
    expect(result.message).toMatch(/\bPORT: /);
    expect(result.message).toMatch(/\bDEV_LOGIN: /);
    expect(parseConfig(GatewayConfig, { JWT_SECRET: 'too-short' })).toEqual({
      ok: false,
      message: 'invalid configuration: JWT_SECRET: must be at least 32 characters',
    });
  });

  it('reads the same variables as before: flags, numbers, origins', () => {
    const result = parseConfig(GatewayConfig, {
      JWT_SECRET: secret,
      DEV_LOGIN: 'yes',
      PORT: '4100',
      ALLOWED_ORIGINS: 'https://a.example/, https://b.example',
    });
    expect(result).toMatchObject({
      ok: true,
      config: { DEV_LOGIN: true, PORT: 4100, ALLOWED_ORIGINS: ['https://a.example', 'https://b.example'] },
    });
  });
});
