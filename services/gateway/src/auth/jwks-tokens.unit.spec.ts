import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, decodeProtectedHeader, SignJWT } from 'jose';
import { KeySetUnavailable } from './key-sets.js';
import { createTokenService } from './tokens.js';

/** Session tokens verified with a JWKS file: keys chosen by kid, the file read again when it changes. */

const policy = { issuer: 'siteflow', audience: 'siteflow-collab', ttlSeconds: 3600 };
const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const jwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid });
const a = generateKeyPairSync('ed25519');
const b = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const dev = generateKeyPairSync('ed25519');

const mint = (key: KeyObject | Uint8Array, header: { kid?: string; alg?: string } = {}, claims: Record<string, unknown> = {}) =>
  new SignJWT({ username: 'dora', role: 'customer', ...claims })
    .setProtectedHeader({ alg: header.alg ?? 'EdDSA', ...(header.kid === undefined ? {} : { kid: header.kid }) })
    .setSubject('7')
    .setIssuer('siteflow')
    .setAudience('siteflow-collab')
    .setExpirationTime('10m')
    .sign(key);

describe('session tokens verified with a JWKS file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gateway-jwks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const keySetFile = (keys: object[]) => {
    const file = path.join(dir, `jwks-${++files}.json`);
    writeFileSync(file, JSON.stringify({ keys }));
    return file;
  };
  // A cooldown longer than any test: a kid found after a rewrite was found because the file changed.
  const verifier = (file: string, privateKey: string | null = null) =>
    createTokenService({ ...policy, keys: { alg: 'EdDSA', keySet: { file, cooldownMs: 3_600_000 }, privateKey } });

  it('accepts a token naming a key of the set, with its scopes; refuses an unknown kid, no kid, and a forged signature', async () => {
    const tokens = await verifier(keySetFile([jwk(a.publicKey, 'a')]));
    expect(await tokens.verify(await mint(a.privateKey, { kid: 'a' }, { scope: 'projects:admin' }))).toMatchObject({
      id: 7,
      username: 'dora',
      role: 'customer',
      scopes: ['projects:admin'],
    });
    expect(await tokens.verify(await mint(b.privateKey, { kid: 'b' }))).toBeNull();
    // The set's only key would match a kid-less token; keys are chosen by kid, so it is refused.
    expect(await tokens.verify(await mint(a.privateKey))).toBeNull();
    // A scope granted by whoever holds another key, under a kid of the set.
    expect(await tokens.verify(await mint(stranger.privateKey, { kid: 'a' }, { scope: 'projects:admin' }))).toBeNull();
  });

  it('refuses an HS256 token naming a key of the set (the algorithm stays pinned)', async () => {
    const file = keySetFile([jwk(a.publicKey, 'a')]);
    const tokens = await verifier(file);
    const x = a.publicKey.export({ format: 'jwk' }).x!;
    expect(await tokens.verify(await mint(new TextEncoder().encode(x.padEnd(32, 'x')), { kid: 'a', alg: 'HS256' }))).toBeNull();
  });

  it('reads the file again when it changed: a new key is used and a removed one refused, without a new service', async () => {
    const file = keySetFile([jwk(a.publicKey, 'a')]);
    const tokens = await verifier(file);
    const tokenA = await mint(a.privateKey, { kid: 'a' });
    const tokenB = await mint(b.privateKey, { kid: 'b' });
    expect(await tokens.verify(tokenA)).not.toBeNull();
    expect(await tokens.verify(tokenB)).toBeNull();

    writeFileSync(file, JSON.stringify({ keys: [jwk(a.publicKey, 'a'), jwk(b.publicKey, 'b')] }));
    expect(await tokens.verify(tokenB)).toMatchObject({ id: 7 });
    expect(await tokens.verify(tokenA)).toMatchObject({ id: 7 });

    writeFileSync(file, JSON.stringify({ keys: [jwk(b.publicKey, 'b')] }));
    expect(await tokens.verify(tokenA)).toBeNull();
    expect(await tokens.verify(tokenB)).not.toBeNull();
  });

  it('fails loudly, naming the variable, while the file is gone or broken, and recovers once it is back', async () => {
    const file = keySetFile([jwk(a.publicKey, 'a')]);
    const tokens = await verifier(file);
    const token = await mint(a.privateKey, { kid: 'a' });
    expect(await tokens.verify(token)).not.toBeNull();

    unlinkSync(file);
    const gone = tokens.verify(token);
    await expect(gone).rejects.toBeInstanceOf(KeySetUnavailable);
    await expect(gone).rejects.toThrow(`JWT_JWKS_FILE ${file}: ENOENT`);

    writeFileSync(file, '{"keys": [');
    await expect(tokens.verify(token)).rejects.toThrow(new RegExp(`^JWT_JWKS_FILE ${file}: .*JSON`));

    writeFileSync(file, JSON.stringify({ keys: [jwk(a.publicKey, 'a')] }));
    expect(await tokens.verify(token)).not.toBeNull();
  });

  it('issues dev-login tokens naming its own key by thumbprint, and accepts them though the set does not hold that key', async () => {
    const tokens = await verifier(keySetFile([jwk(a.publicKey, 'a')]), pkcs8(dev.privateKey));
    const { token } = await tokens.issue({ id: 2, username: 'bob', role: 'customer', avatar_url: '' }, { scopes: ['projects:admin'] });
    const kid = await calculateJwkThumbprint(dev.publicKey.export({ format: 'jwk' }), 'sha256');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'JWT', kid });
    expect(await tokens.verify(token)).toMatchObject({ id: 2, username: 'bob', scopes: ['projects:admin'] });
    // The set's keys still work beside it, and a gateway without that private key refuses its tokens.
    expect(await tokens.verify(await mint(a.privateKey, { kid: 'a' }))).not.toBeNull();
    expect(await (await verifier(keySetFile([jwk(a.publicKey, 'a')]))).verify(token)).toBeNull();
    // The thumbprint is no password: another key's token naming it is refused.
    expect(await tokens.verify(await mint(stranger.privateKey, { kid }))).toBeNull();
  });
});
