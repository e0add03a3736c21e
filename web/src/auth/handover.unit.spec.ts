import { describe, expect, it } from 'vitest';
import { fragmentWithoutToken, readHandover } from './handover.js';

const b64url = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
const jwt = (claims: Record<string, unknown>) => `${b64url({ alg: 'EdDSA', kid: 'k1' })}.${b64url(claims)}.c2ln`;
const now = Date.parse('2026-01-01T00:00:00Z');
const dana = { sub: '7', username: 'dana', role: 'customer', exp: now / 1000 + 600, iss: 'siteflow', aud: 'siteflow-collab' };

describe('readHandover', () => {
  it('takes the user from a token in the fragment', () => {
    const token = jwt({ ...dana, avatar_url: '/a/dana.png' });
    expect(readHandover(`#access_token=${token}&token_type=Bearer`, now)).toEqual({
      kind: 'session',
      session: { token, user: { id: 7, username: 'dana', role: 'customer', avatar_url: '/a/dana.png' } },
    });
  });

  it('accepts `name` for `username`, as the gateway does', () => {
    const handover = readHandover(`#access_token=${jwt({ ...dana, username: undefined, name: 'dana' })}`, now);
    expect(handover.kind === 'session' && handover.session.user.username).toBe('dana');
  });

  it('is nothing without access_token', () => {
    expect(readHandover('', now)).toEqual({ kind: 'none' });
    expect(readHandover('#section-2', now)).toEqual({ kind: 'none' });
  });

  it('refuses an expired token, saying so', () => {
    const handover = readHandover(`#access_token=${jwt({ ...dana, exp: now / 1000 - 1 })}`, now);
    expect(handover.kind === 'refused' && handover.message).toMatch(/^The sign-in link from Siteflow has expired\./);
  });

  it.each([
    ['not a JWT', 'garbage'],
    ['a body that is not JSON', 'eyJhbGciOiJFZERTQSJ9.bm90IGpzb24.c2ln'],
    ['no sub', jwt({ ...dana, sub: undefined })],
    ['a sub that is not a user id', jwt({ ...dana, sub: '07' })],
    ['an unknown role', jwt({ ...dana, role: 'owner' })],
    ['no username', jwt({ ...dana, username: '' })],
  ])('refuses a token with %s as unreadable', (_, token) => {
    const handover = readHandover(`#access_token=${token}`, now);
    expect(handover.kind === 'refused' && handover.message).toMatch(/cannot read/);
  });

  it('refuses a token without exp', () => {
    const handover = readHandover(`#access_token=${jwt({ ...dana, exp: undefined })}`, now);
    expect(handover.kind === 'refused' && handover.message).toMatch(/without an expiry/);
  });
});

describe('fragmentWithoutToken', () => {
  it('drops the token and what comes with it, keeps the rest', () => {
    expect(fragmentWithoutToken('#access_token=a.b.c&token_type=Bearer&expires_in=600')).toBe('');
    expect(fragmentWithoutToken('#access_token=a.b.c&doc=budget')).toBe('#doc=budget');
  });
});
