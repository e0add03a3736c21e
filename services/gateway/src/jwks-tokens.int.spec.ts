import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_USERS } from '@siteflow/demo';
import { connectClient, openChannel, push, rawSocket, REPO_ROOT, SocketRefused, useStack, type GatewayProcess } from '@siteflow/testing';

/**
 * Siteflow's issuer signs session tokens with keys it publishes as a JWKS and rotates at will: a
 * gateway configured with JWT_JWKS_URL (a real HTTP server on loopback here) or JWT_JWKS_FILE
 * takes a token naming a new kid once the set holds it, without a restart, and refuses unknown
 * kids, expired tokens and scopes signed by anyone else.
 */

const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
const keyA = generateKeyPairSync('ed25519');
const keyB = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const devKey = generateKeyPairSync('ed25519');
const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const keySet = (...keys: [KeyObject, string][]) =>
  JSON.stringify({ keys: keys.map(([key, kid]) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'EdDSA' })) });

/** A token as Siteflow issues it: the claims the README's table lists. */
const siteflowToken = (key: KeyObject, kid: string, o: { expiresInS?: number; scope?: string } = {}) =>
  new SignJWT({ username: bob.username, role: bob.role, ...(o.scope === undefined ? {} : { scope: o.scope }) })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid })
    .setSubject(String(bob.id))
    .setIssuer('siteflow')
    .setAudience('siteflow-collab')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresInS ?? 600))
    .sign(key);

/** The HTTP status of the refused upgrade, or `open` when the gateway let the socket in. */
async function handshake(socketUrl: string, token: string): Promise<number | 'open'> {
  try {
    const s = await rawSocket(socketUrl, token);
    await s.close();
    return 'open';
  } catch (err) {
    if (err instanceof SocketRefused) return err.status;
    throw err;
  }
}

/** Siteflow's JWKS endpoint: serves `body` (or fails with `failWith`), counting the fetches. */
function jwksEndpoint() {
  const endpoint = {
    body: keySet([keyA.publicKey, 'a']),
    failWith: null as number | null,
    fetches: 0,
    url: '',
    server: null as Server | null,
  };
  endpoint.server = createServer((req, res) => {
    endpoint.fetches += 1;
    if (endpoint.failWith !== null) return res.writeHead(endpoint.failWith).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(endpoint.body);
  });
  return endpoint;
}

describe('gateway with session keys from a JWKS', () => {
  const stack = useStack();
  const endpoint = jwksEndpoint();
  const dir = mkdtempSync(path.join(tmpdir(), 'gateway-jwks-int-'));

  beforeAll(async () => {
    await new Promise<void>((resolve) => endpoint.server!.listen(0, '127.0.0.1', resolve));
    endpoint.url = `http://127.0.0.1:${(endpoint.server!.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => endpoint.server!.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('JWT_JWKS_URL: key a, then after rotation key b without a restart; unknown kids cost at most one fetch; expiry and forged scopes refused', async () => {
    const gateway = await stack().startExtra('gateway', {
      JWT_ALG: 'EdDSA',
      JWT_JWKS_URL: endpoint.url,
      JWT_JWKS_COOLDOWN_MS: '500',
      // Dev login signs with a key of the gateway's own, which the set does not hold.
      JWT_PRIVATE_KEY: pkcs8(devKey.privateKey),
    });
    try {
      // The user comes from Siteflow's claims: bob joins project:1 and chats as bob.
      const socket = await connectClient(gateway.socketUrl, await siteflowToken(keyA.privateKey, 'a'));
      const { channel } = await openChannel(socket, 'project:1');
      const reply = await push(channel, 'chat:message', { text: 'signed by Siteflow, key a' });
      expect(reply).toMatchObject({ status: 'ok', response: { user_id: bob.id, username: 'bob' } });
      expect(endpoint.fetches).toBe(1);
      // Gone before the rotation: a reconnect with the withdrawn kid would be one more fetch.
      socket.disconnect();

      // Siteflow rotates: b is published and a withdrawn. A token naming b makes the gateway fetch
      // again once the cooldown after its last fetch has passed.
      endpoint.body = keySet([keyB.publicKey, 'b']);
      const tokenB = await siteflowToken(keyB.privateKey, 'b');
      await expect.poll(() => handshake(gateway.socketUrl, tokenB), { timeout: 10_000, interval: 100 }).toBe('open');
      expect(endpoint.fetches).toBe(2);
      expect(gateway.running).toBe(true);

      // Made-up kids, a flood of them: refused, and at most one fetch between them.
      const fetchesBefore = endpoint.fetches;
      const unknown = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => handshake(gateway.socketUrl, await siteflowToken(keyB.privateKey, `made-up-${i}`))),
      );
      expect(unknown).toEqual(Array.from({ length: 20 }, () => 403));
      expect(endpoint.fetches - fetchesBefore).toBeLessThanOrEqual(1);

      const refused = {
        'withdrawn key a': await siteflowToken(keyA.privateKey, 'a'),
        'expired, key b': await siteflowToken(keyB.privateKey, 'b', { expiresInS: -30 }),
        'projects:admin signed by a key not in the set, naming b': await siteflowToken(stranger.privateKey, 'b', {
          scope: 'projects:admin',
        }),
        'projects:admin signed by a key not in the set, its own kid': await siteflowToken(stranger.privateKey, 'stranger', {
          scope: 'projects:admin',
        }),
      };
      const outcomes: Record<string, number | 'open'> = {};
      for (const [name, token] of Object.entries(refused)) outcomes[name] = await handshake(gateway.socketUrl, token);
      expect(outcomes).toEqual(Object.fromEntries(Object.keys(refused).map((name) => [name, 403])));
      expect(await handshake(gateway.socketUrl, await siteflowToken(keyB.privateKey, 'b', { scope: 'projects:admin' }))).toBe('open');

      // Dev login's own tokens work beside the set's.
      const login = await devLogin(gateway, { username: 'alice' });
      expect(login.status).toBe(200);
      expect(await handshake(gateway.socketUrl, login.body.token)).toBe('open');
    } finally {
      await gateway.kill('SIGTERM');
    }
  });

  it('JWT_JWKS_URL: the cached keys are fetched again after JWT_JWKS_MAX_AGE_MS, so a withdrawn key stops working with no unknown kid', async () => {
    endpoint.body = keySet([keyA.publicKey, 'a']);
    // A cooldown far beyond the test: no kid can make the gateway fetch again, only the keys' age.
    const gateway = await stack().startExtra('gateway', {
      JWT_ALG: 'EdDSA',
      JWT_JWKS_URL: endpoint.url,
      JWT_JWKS_COOLDOWN_MS: '3600000',
      JWT_JWKS_MAX_AGE_MS: '1000',
      DEV_LOGIN: 'false',
    });
    try {
      const fetchesBefore = endpoint.fetches;
      expect(await handshake(gateway.socketUrl, await siteflowToken(keyA.privateKey, 'a'))).toBe('open');
      expect(endpoint.fetches - fetchesBefore).toBe(1);
      // Siteflow rotates: b published, a withdrawn. b is found once the cached set has aged out.
      endpoint.body = keySet([keyB.publicKey, 'b']);
      const tokenB = await siteflowToken(keyB.privateKey, 'b');
      await expect.poll(() => handshake(gateway.socketUrl, tokenB), { timeout: 15_000, interval: 200 }).toBe('open');
      expect(await handshake(gateway.socketUrl, await siteflowToken(keyA.privateKey, 'a'))).toBe(403);
      expect(gateway.running).toBe(true);
    } finally {
      await gateway.kill('SIGTERM');
    }
  });

  it('JWT_JWKS_URL unreachable: a handshake needing a fetch fails with 500 and the gateway logs why; it recovers without a restart', async () => {
    endpoint.body = keySet([keyA.publicKey, 'a']);
    endpoint.failWith = 503;
    const gateway = await stack().startExtra('gateway', {
      JWT_ALG: 'EdDSA',
      JWT_JWKS_URL: endpoint.url,
      JWT_JWKS_COOLDOWN_MS: '0',
      DEV_LOGIN: 'false',
    });
    try {
      const token = await siteflowToken(keyA.privateKey, 'a');
      expect(await handshake(gateway.socketUrl, token)).toBe(500);
      await expect
        .poll(() => gateway.logs())
        .toContain(`JWT_JWKS_URL ${endpoint.url}: Expected 200 OK from the JSON Web Key Set HTTP response`);
      endpoint.failWith = null;
      expect(await handshake(gateway.socketUrl, token)).toBe('open');
    } finally {
      endpoint.failWith = null;
      await gateway.kill('SIGTERM');
    }
  });

  it('JWT_JWKS_FILE: the file rewritten with key b is used at once; a, unknown kids, expiry and forged scopes refused; dev login stays off', async () => {
    const file = path.join(dir, 'jwks.json');
    writeFileSync(file, keySet([keyA.publicKey, 'a']));
    // A cooldown far beyond the test: b is found because the file changed, not because of its kid.
    const gateway = await stack().startExtra('gateway', {
      JWT_ALG: 'EdDSA',
      JWT_JWKS_FILE: file,
      JWT_JWKS_COOLDOWN_MS: '3600000',
      DEV_LOGIN: 'false',
    });
    try {
      expect(await handshake(gateway.socketUrl, await siteflowToken(keyA.privateKey, 'a'))).toBe('open');
      const tokenB = await siteflowToken(keyB.privateKey, 'b');
      expect(await handshake(gateway.socketUrl, tokenB)).toBe(403);

      // Replaced as a deployment replaces it: written beside, then renamed over.
      writeFileSync(`${file}.next`, keySet([keyB.publicKey, 'b']));
      renameSync(`${file}.next`, file);
      expect(await handshake(gateway.socketUrl, tokenB)).toBe('open');

      const refused = {
        'withdrawn key a': await siteflowToken(keyA.privateKey, 'a'),
        'unknown kid': await siteflowToken(keyB.privateKey, 'c'),
        'expired, key b': await siteflowToken(keyB.privateKey, 'b', { expiresInS: -30 }),
        'projects:admin signed by a key not in the set, naming b': await siteflowToken(stranger.privateKey, 'b', {
          scope: 'projects:admin',
        }),
      };
      const outcomes: Record<string, number | 'open'> = {};
      for (const [name, token] of Object.entries(refused)) outcomes[name] = await handshake(gateway.socketUrl, token);
      expect(outcomes).toEqual(Object.fromEntries(Object.keys(refused).map((name) => [name, 403])));

      // Asking for the scope changes nothing when dev login is off.
      const login = await devLogin(gateway, { username: 'alice', scope: 'projects:admin' });
      expect(login).toEqual({ status: 404, body: { code: 'not_found', message: 'dev login is disabled' } });
    } finally {
      await gateway.kill('SIGTERM');
    }
  });

  it('dev login grants projects:admin when asked, to customers too, only that scope, and not unasked', async () => {
    const gateway = { gatewayUrl: stack().gatewayUrl };
    const admin = await devLogin(gateway, { username: 'alice', scope: 'projects:admin' });
    expect(admin.status).toBe(200);
    expect(decodeJwt(admin.body.token)).toMatchObject({ sub: '1', username: 'alice', role: 'admin', scope: 'projects:admin' });
    expect(await handshake(stack().socketUrl, admin.body.token)).toBe('open');

    const customer = await devLogin(gateway, { username: 'bob', scope: 'projects:admin' });
    expect(decodeJwt(customer.body.token)).toMatchObject({ username: 'bob', role: 'customer', scope: 'projects:admin' });

    const unasked = await devLogin(gateway, { username: 'alice' });
    expect(decodeJwt(unasked.body.token)).not.toHaveProperty('scope');
    expect(decodeProtectedHeader(unasked.body.token)).toEqual({ alg: 'HS256', typ: 'JWT' });

    expect(await devLogin(gateway, { username: 'alice', scope: 'projects:admin admin' })).toEqual({
      status: 400,
      body: { code: 'invalid_payload', message: 'scope.1: dev login grants only projects:admin, not "admin"' },
    });
  });
});

describe('gateway startup with an unusable key set', () => {
  const main = path.join(REPO_ROOT, 'services', 'gateway', 'dist', 'main.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'gateway-jwks-startup-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the gateway and resolves with its exit code and stderr (it must not get as far as NATS). */
  async function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    try {
      await promisify(execFile)(process.execPath, [main], {
        env: { PATH: process.env.PATH ?? '', NATS_URL: 'nats://127.0.0.1:1', LOG_LEVEL: 'silent', ...env },
        timeout: 30_000,
      });
      return { code: 0, stderr: '' };
    } catch (err) {
      const e = err as { code?: number | string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : null, stderr: e.stderr ?? '' };
    }
  }

  it('exits 78 naming the variable: a key set with HS256, plain http off loopback, a private key in the file', async () => {
    expect(
      await start({ JWT_SECRET: 'a-secret-of-at-least-thirty-two-characters', JWT_JWKS_URL: 'https://siteflow.example/jwks.json' }),
    ).toEqual({
      code: 78,
      stderr:
        'invalid configuration: JWT_JWKS_URL: is set but JWT_ALG is HS256 (the default): a key set holds public keys, set JWT_ALG=RS256 or JWT_ALG=EdDSA\n',
    });
    expect(await start({ JWT_ALG: 'EdDSA', JWT_JWKS_URL: 'http://siteflow:8080/jwks.json' })).toEqual({
      code: 78,
      stderr:
        'invalid configuration: JWT_JWKS_URL: must be https (keys fetched over plain http can be replaced on the way); http is accepted only on loopback\n',
    });
    const file = path.join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [{ ...keyA.privateKey.export({ format: 'jwk' }), kid: 'a' }] }));
    expect(await start({ JWT_ALG: 'EdDSA', JWT_JWKS_FILE: file })).toEqual({
      code: 78,
      stderr: 'invalid configuration: JWT_JWKS_FILE: key "a" is a private or secret key: publish only public keys\n',
    });
  });
});

async function devLogin(gateway: Pick<GatewayProcess, 'gatewayUrl'>, body: { username: string; scope?: string }) {
  const res = await fetch(`${gateway.gatewayUrl}/api/auth/dev-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as { token: string } & Record<string, unknown> };
}
