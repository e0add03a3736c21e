import { describe, expect, it } from 'vitest';
import { devLogin, devLoginUsers, LoginError, loginFailureMessage, parseDevLoginResponse } from './devLogin.js';

const ok = { token: 't', user: { id: 2, username: 'bob', role: 'customer', avatar_url: '' }, expires_at: '2030-01-01T00:00:00Z' };

const respond =
  (status: number, body: unknown): typeof fetch =>
  () =>
    Promise.resolve(
      new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }),
    );

describe('devLogin', () => {
  it('posts the username and returns the session', async () => {
    let seen: { url: string; init: RequestInit | undefined } | undefined;
    const fetchImpl: typeof fetch = (url, init) => {
      seen = { url: url instanceof Request ? url.url : url.toString(), init };
      return Promise.resolve(new Response(JSON.stringify(ok), { status: 200 }));
    };
    await expect(devLogin('bob', fetchImpl)).resolves.toEqual(ok);
    expect(seen?.url).toBe('/api/auth/dev-login');
    expect(seen?.init?.method).toBe('POST');
    expect(typeof seen?.init?.body).toBe('string');
    expect(JSON.parse(seen?.init?.body as string)).toEqual({ username: 'bob' });
  });

  it.each<[number, unknown]>([
    [404, { code: 'not_found', message: 'dev login is disabled' }],
    [404, { message: 'Route POST:/api/auth/dev-login not found', error: 'Not Found', statusCode: 404 }],
    [404, null],
    [401, { message: 'Not Found' }],
  ])('says dev login is disabled on %i %j', async (status, body) => {
    await expect(devLogin('bob', respond(status, body))).rejects.toThrow(/dev login is disabled/i);
  });

  it('names an unknown user', async () => {
    await expect(devLogin('dave', respond(404, { code: 'not_found', message: 'no demo user named "dave"' }))).rejects.toThrow(
      'Cannot sign in: no demo user named "dave".',
    );
  });

  it('passes on what the server said about a bad username', async () => {
    await expect(devLogin('', respond(400, { code: 'invalid_payload', message: 'username: too short' }))).rejects.toThrow(
      'That username was not accepted: username: too short',
    );
  });

  it('reports an unreachable server', async () => {
    const down: typeof fetch = () => Promise.reject(new TypeError('fetch failed'));
    await expect(devLogin('bob', down)).rejects.toBeInstanceOf(LoginError);
    await expect(devLogin('bob', down)).rejects.toThrow(/cannot reach/i);
  });

  it('refuses a malformed success', async () => {
    await expect(devLogin('bob', respond(200, { token: 't' }))).rejects.toThrow(/unexpected/);
  });
});

describe('loginFailureMessage', () => {
  it('reads nested error bodies', () => {
    expect(loginFailureMessage(403, { error: { code: 'forbidden', message: 'user is blocked' } })).toBe('user is blocked');
    expect(loginFailureMessage(418, null)).toBe('Sign-in failed (HTTP 418).');
    expect(loginFailureMessage(503, { message: 'x' })).toMatch(/try again/i);
  });
});

describe('parseDevLoginResponse', () => {
  it('tolerates a missing avatar and expiry', () => {
    expect(parseDevLoginResponse({ token: 't', user: { id: 3, username: 'carol', role: 'customer' } })).toEqual({
      token: 't',
      user: { id: 3, username: 'carol', role: 'customer', avatar_url: '' },
      expires_at: '',
    });
  });
});

describe('devLoginUsers', () => {
  it('lists the users the server offers, dropping malformed ones', async () => {
    const bob = ok.user;
    await expect(devLoginUsers(respond(200, { users: [bob, { id: 'x', username: 'eve' }] }))).resolves.toEqual([bob]);
  });

  it('is empty when dev login is off, the server has no demo users or cannot be reached', async () => {
    await expect(devLoginUsers(respond(404, { code: 'not_found', message: 'dev login is disabled' }))).resolves.toEqual([]);
    await expect(devLoginUsers(respond(200, { users: [] }))).resolves.toEqual([]);
    await expect(devLoginUsers(() => Promise.reject(new TypeError('offline')))).resolves.toEqual([]);
  });
});
