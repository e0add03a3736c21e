import { describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { hs256Tokens } from './tokens.js';

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
    expect(await tokens.verify(token)).toEqual({ ...alice, expiresAt: expiresAt.getTime() });
  });

  it('refuses alg "none"', async () => {
    const token = new UnsecuredJWT(claims).setSubject('1').setIssuer('siteflow').setAudience('siteflow-collab').setIssuedAt().setExpirationTime('1h').encode();
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
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('1').setIssuer(iss).setAudience(aud).setExpirationTime(exp).sign(key);
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
