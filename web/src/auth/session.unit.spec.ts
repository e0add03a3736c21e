import { describe, expect, it } from 'vitest';
import { clearSession, readSession, tokenExpiresAt, TOKEN_KEY, USER_KEY, writeSession, type Session } from './session.js';

function memoryStore(entries: Record<string, string> = {}) {
  const map = new Map(Object.entries(entries));
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  };
}

const b64url = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
const jwt = (claims: Record<string, unknown>) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.sig`;

const alice = { id: 1, username: 'alice', role: 'admin' as const, avatar_url: '/avatars/1.png' };
const now = Date.parse('2025-01-01T00:00:00Z');

describe('session storage', () => {
  it('writes, reads back and clears under the seed keys', () => {
    const store = memoryStore();
    const session: Session = { token: jwt({ sub: '1', exp: now / 1000 + 3600 }), user: alice };
    writeSession(store, session);
    expect(store.map.get(TOKEN_KEY)).toBe(session.token);
    expect(JSON.parse(store.map.get(USER_KEY) ?? '')).toEqual(alice);
    expect(readSession(store, now)).toEqual(session);
    clearSession(store);
    expect(store.map.size).toBe(0);
  });

  it('drops an expired session', () => {
    const store = memoryStore({ [TOKEN_KEY]: jwt({ exp: now / 1000 - 1 }), [USER_KEY]: JSON.stringify(alice) });
    expect(readSession(store, now)).toBeNull();
    expect(store.map.size).toBe(0);
  });

  it('keeps a token without exp (an opaque token)', () => {
    const store = memoryStore({ [TOKEN_KEY]: 'opaque', [USER_KEY]: JSON.stringify(alice) });
    expect(readSession(store, now)).toEqual({ token: 'opaque', user: alice });
  });

  it.each([
    ['half a session', { [TOKEN_KEY]: 'x' }],
    ['a user that is not JSON', { [TOKEN_KEY]: 'x', [USER_KEY]: '{nope' }],
    ['a user of the wrong shape', { [TOKEN_KEY]: 'x', [USER_KEY]: JSON.stringify({ ...alice, role: 'root' }) }],
  ])('drops %s', (_name, entries) => {
    const store = memoryStore(entries);
    expect(readSession(store, now)).toBeNull();
    expect(store.map.size).toBe(0);
  });
});

describe('tokenExpiresAt', () => {
  it('reads exp in milliseconds', () => {
    expect(tokenExpiresAt(jwt({ exp: 1700000000 }))).toBe(1700000000000);
  });
  it('is null for garbage', () => {
    expect(tokenExpiresAt('a.b.c')).toBeNull();
    expect(tokenExpiresAt('')).toBeNull();
    expect(tokenExpiresAt(jwt({ sub: '1' }))).toBeNull();
  });
});
