import { beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose';
import { createTokenService, hs256Tokens, TokenKeyError, type TokenService } from './tokens.js';

const secret = 'test-secret-that-is-at-least-32-bytes-long!';
const opts = { secret, issuer: 'siteflow', audience: 'siteflow-collab', ttlSeconds: 3600 };
const alice = { id: 1, username: 'alice', role: 'admin' as const, avatar_url: '/avatars/alice.svg' };
const key = new TextEncoder().encode(secret);
const claims = { name: 'alice', role: 'admin', avatar_url: '/avatars/alice.svg' };

describe('session tokens (HS256, algorithm pinned)', () => {
  it('issues a token that verifies to the user, with its expiry', async () => {
    const tokens = hs256Tokens({ ...opts, now: () => 1_800_000_000_000 });
    const { token, expiresAt } = await tokens.issue(alice);
    expect(expiresAt.getTime()).toBe(1_800_000_000_000 + 3600 * 1000);
    expect(await tokens.verify(token)).toEqual({ ...alice, scopes: [], expiresAt: expiresAt.getTime() });
  });

  it('issues the username claim and the scopes granted, and reads them back', async () => {
    const tokens = hs256Tokens(opts);
    const { token } = await tokens.issue(alice, { scopes: ['projects:admin'] });
    expect(decodeJwt(token)).toMatchObject({ sub: '1', username: 'alice', role: 'admin', scope: 'projects:admin' });
    expect(await tokens.verify(token)).toMatchObject({ id: 1, username: 'alice', scopes: ['projects:admin'] });
    const plain = (await tokens.issue(alice)).token;
    expect(decodeJwt(plain)).not.toHaveProperty('scope');
  });

  it('reads a space-separated scope claim (RFC 6749 §3.3) and the older name claim', async () => {
    const sign = (payload: Record<string, unknown>) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('7')
        .setIssuer('siteflow')
        .setAudience('siteflow-collab')
        .setExpirationTime('1h')
        .sign(key);
    const tokens = hs256Tokens(opts);
    expect(await tokens.verify(await sign({ username: 'dora', role: 'customer', scope: 'openid  projects:admin profile' }))).toMatchObject({
      id: 7,
      username: 'dora',
      role: 'customer',
      scopes: ['openid', 'projects:admin', 'profile'],
    });
    expect(await tokens.verify(await sign({ name: 'dora', role: 'customer' }))).toMatchObject({ username: 'dora', scopes: [] });
    // Neither: no name to show, no session.
    expect(await tokens.verify(await sign({ role: 'customer' }))).toBeNull();
    // A scope that is not a string is a malformed token, not an empty grant.
    expect(await tokens.verify(await sign({ username: 'dora', role: 'customer', scope: ['projects:admin'] }))).toBeNull();
  });

  it('refuses alg "none"', async () => {
    const token = new UnsecuredJWT(claims)
      .setSubject('1')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime('1h')
      .encode();
    expect(await hs256Tokens(opts).verify(token)).toBeNull();
  });

  it('refuses a token signed with another key', async () => {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('1')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-that-is-also-32-bytes-long'));
    expect(await hs256Tokens(opts).verify(token)).toBeNull();
  });

  it('refuses an expired token, a wrong audience and a wrong issuer', async () => {
    const sign = (aud: string, iss: string, exp: number) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('1')
        .setIssuer(iss)
        .setAudience(aud)
        .setExpirationTime(exp)
        .sign(key);
    const now = Math.floor(Date.now() / 1000);
    const tokens = hs256Tokens(opts);
    expect(await tokens.verify(await sign('siteflow-collab', 'siteflow', now - 10))).toBeNull();
    expect(await tokens.verify(await sign('someone-else', 'siteflow', now + 600))).toBeNull();
    expect(await tokens.verify(await sign('siteflow-collab', 'evil', now + 600))).toBeNull();
    expect(await tokens.verify(await sign('siteflow-collab', 'siteflow', now + 600))).not.toBeNull();
  });

  it('refuses a token without the claims a session needs, and garbage', async () => {
    const noRole = await new SignJWT({ name: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('1')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setExpirationTime('1h')
      .sign(key);
    const tokens = hs256Tokens(opts);
    expect(await tokens.verify(noRole)).toBeNull();
    expect(await tokens.verify('not.a.jwt')).toBeNull();
    expect(await tokens.verify('')).toBeNull();
  });
});

describe.each(['RS256', 'EdDSA'] as const)('session tokens (%s, algorithm pinned)', (alg) => {
  const policy = { issuer: 'siteflow', audience: 'siteflow-collab', ttlSeconds: 3600 };
  let pair: { publicKey: string; privateKey: string; signingKey: CryptoKey };
  let otherPair: { signingKey: CryptoKey };
  let verifier: TokenService;

  const keyPair = async (a: 'RS256' | 'EdDSA') => {
    const { publicKey, privateKey } = await generateKeyPair(a, { extractable: true });
    return { publicKey: await exportSPKI(publicKey), privateKey: await exportPKCS8(privateKey), signingKey: privateKey };
  };
  const signed = (opts: { alg?: string; key?: CryptoKey | Uint8Array; aud?: string; iss?: string; exp?: number } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: opts.alg ?? alg })
      .setSubject('1')
      .setIssuer(opts.iss ?? 'siteflow')
      .setAudience(opts.aud ?? 'siteflow-collab')
      .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600)
      .sign(opts.key ?? pair.signingKey);

  beforeAll(async () => {
    pair = await keyPair(alg);
    otherPair = await keyPair(alg);
    verifier = await createTokenService({ ...policy, keys: { alg, publicKey: pair.publicKey, privateKey: null } });
  });

  it('verifies a token signed with the configured private key, and issues one when it holds that key', async () => {
    expect(await verifier.verify(await signed())).toMatchObject({
      id: 1,
      username: 'alice',
      role: 'admin',
      avatar_url: '/avatars/alice.svg',
    });
    const issuer = await createTokenService({
      ...policy,
      now: () => 1_800_000_000_000,
      keys: { alg, publicKey: pair.publicKey, privateKey: pair.privateKey },
    });
    const { token, expiresAt } = await issuer.issue(alice);
    expect(decodeProtectedHeader(token)).toEqual({ alg, typ: 'JWT' });
    expect(expiresAt.getTime()).toBe(1_800_000_000_000 + 3600 * 1000);
    expect(await issuer.verify(token)).toEqual({ ...alice, scopes: [], expiresAt: expiresAt.getTime() });
    // Another gateway holding only the public key accepts it too (the token has not expired yet).
    const verifierAtIssue = await createTokenService({
      ...policy,
      now: () => 1_800_000_000_000,
      keys: { alg, publicKey: pair.publicKey, privateKey: null },
    });
    expect(await verifierAtIssue.verify(token)).toEqual({ ...alice, scopes: [], expiresAt: expiresAt.getTime() });
  });

  it('refuses a token signed with another key', async () => {
    expect(await verifier.verify(await signed({ key: otherPair.signingKey }))).toBeNull();
  });

  it('refuses alg "none"', async () => {
    const token = new UnsecuredJWT(claims)
      .setSubject('1')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setExpirationTime('1h')
      .encode();
    expect(await verifier.verify(token)).toBeNull();
  });

  it('refuses an expired token, a wrong audience and a wrong issuer', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await verifier.verify(await signed({ exp: now - 10 }))).toBeNull();
    expect(await verifier.verify(await signed({ aud: 'someone-else' }))).toBeNull();
    expect(await verifier.verify(await signed({ iss: 'evil' }))).toBeNull();
    expect(await verifier.verify(await signed())).not.toBeNull();
  });

  it('refuses an HS256 token keyed with the public key PEM (algorithm confusion)', async () => {
    // The public key is public: were HS256 accepted with it as the secret, anyone could sign.
    const forged = await signed({ alg: 'HS256', key: new TextEncoder().encode(pair.publicKey) });
    expect(decodeProtectedHeader(forged).alg).toBe('HS256');
    expect(await verifier.verify(forged)).toBeNull();
  });

  it('refuses a token of the other asymmetric algorithm', async () => {
    const other = alg === 'RS256' ? 'EdDSA' : 'RS256';
    const foreign = await keyPair(other);
    expect(await verifier.verify(await signed({ alg: other, key: foreign.signingKey }))).toBeNull();
    // …even when the gateway of that algorithm would take it.
    const otherVerifier = await createTokenService({ ...policy, keys: { alg: other, publicKey: foreign.publicKey, privateKey: null } });
    expect(await otherVerifier.verify(await signed({ alg: other, key: foreign.signingKey }))).not.toBeNull();
  });

  it('cannot issue without the private key, and says why', async () => {
    await expect(verifier.issue(alice)).rejects.toThrow(`cannot issue session tokens: JWT_ALG=${alg} is configured without a private key`);
  });

  it('fails at creation on a key that does not fit the algorithm', async () => {
    const other = await keyPair(alg === 'RS256' ? 'EdDSA' : 'RS256');
    const created = createTokenService({ ...policy, keys: { alg, publicKey: other.publicKey, privateKey: null } });
    await expect(created).rejects.toBeInstanceOf(TokenKeyError);
    await expect(created).rejects.toThrow(`JWT_PUBLIC_KEY cannot be used with JWT_ALG=${alg}`);
  });
});

describe('createTokenService with HS256', () => {
  it('is the HS256 service: its tokens verify there, and asymmetric ones are refused', async () => {
    const tokens = await createTokenService({ ...opts, keys: { alg: 'HS256', secret } });
    const { token } = await tokens.issue(alice);
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    expect(await hs256Tokens(opts).verify(token)).toMatchObject({ id: 1, username: 'alice' });
    const { privateKey } = await generateKeyPair('EdDSA');
    const ed = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('1')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setExpirationTime('1h')
      .sign(privateKey);
    expect(await tokens.verify(ed)).toBeNull();
  });
});
