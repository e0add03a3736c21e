import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeProtectedHeader, SignJWT, UnsecuredJWT } from 'jose';
import type { Socket } from 'phoenix';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_USERS } from '@siteflow/demo';
import { connectClient, openChannel, push, rawSocket, REPO_ROOT, SocketRefused, useStack } from '@siteflow/testing';

/**
 * Session tokens signed with a private key the gateway never needs (RS256/EdDSA, chosen by
 * JWT_ALG): only the configured algorithm and key open a socket; everything else — the HS256
 * secret the harness would use, a token forged with the public key as HMAC secret, `none`,
 * another key, expired, foreign audience or issuer — is refused at the handshake.
 */

const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
/** As an env file would carry it: one line, literal `\n`. */
const oneLine = (pem: string) => pem.trim().replace(/\n/g, '\\n');

const ed = generateKeyPairSync('ed25519');
const otherEd = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const bob = DEMO_USERS.find((u) => u.username === 'bob')!;

interface MintOptions {
  alg: string;
  key: KeyObject | Uint8Array;
  audience?: string;
  issuer?: string;
  expiresInS?: number;
}
const mint = (o: MintOptions) =>
  new SignJWT({ name: bob.username, role: bob.role, avatar_url: bob.avatar_url })
    .setProtectedHeader({ alg: o.alg, typ: 'JWT' })
    .setSubject(String(bob.id))
    .setIssuer(o.issuer ?? 'siteflow')
    .setAudience(o.audience ?? 'siteflow-collab')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresInS ?? 600))
    .sign(o.key);

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

describe('gateway with JWT_ALG=EdDSA', () => {
  const stack = useStack({
    processEnv: { gateway: { JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: oneLine(spki(ed.publicKey)), JWT_PRIVATE_KEY: pkcs8(ed.privateKey) } },
  });
  const clients: Socket[] = [];
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });

  /** Connects the stock phoenix client, joins project:1 and posts a chat message. */
  async function chatAs(socketUrl: string, token: string, text: string) {
    const socket = await connectClient(socketUrl, token);
    clients.push(socket);
    const { channel, response } = await openChannel(socket, 'project:1');
    expect(response.project).toMatchObject({ id: 1, name: 'Demo project' });
    const reply = await push(channel, 'chat:message', { text });
    return reply;
  }

  it('lets in a token signed with the configured Ed25519 private key: it joins project:1 and its chat message is acknowledged', async () => {
    const token = await mint({ alg: 'EdDSA', key: ed.privateKey });
    const reply = await chatAs(stack().socketUrl, token, 'signed with Ed25519');
    expect(reply.status).toBe('ok');
    expect(reply.response).toMatchObject({ text: 'signed with Ed25519', user_id: bob.id, username: 'bob' });
  });

  it('issues EdDSA tokens through dev login, with the configured private key', async () => {
    const { token, user } = await stack().devLogin('alice');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'JWT' });
    expect(user).toMatchObject({ id: 1, username: 'alice', role: 'admin' });
    const reply = await chatAs(stack().socketUrl, token, 'via dev login');
    expect(reply).toMatchObject({ status: 'ok', response: { text: 'via dev login', user_id: 1, username: 'alice' } });
  });

  it('refuses the HS256 secret, algorithm confusion, alg none, another key, expiry, a foreign audience or issuer', async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged: Record<string, string> = {
      'HS256 with the harness secret': await mint({ alg: 'HS256', key: new TextEncoder().encode(stack().jwtSecret) }),
      'HS256 keyed with the public key PEM': await mint({ alg: 'HS256', key: new TextEncoder().encode(spki(ed.publicKey)) }),
      'HS256 keyed with the public key as configured': await mint({
        alg: 'HS256',
        key: new TextEncoder().encode(oneLine(spki(ed.publicKey))),
      }),
      'alg none': new UnsecuredJWT({ name: 'bob', role: 'customer' })
        .setSubject('2')
        .setIssuer('siteflow')
        .setAudience('siteflow-collab')
        .setExpirationTime(now + 600)
        .encode(),
      RS256: await mint({ alg: 'RS256', key: rsa.privateKey }),
      'another Ed25519 key': await mint({ alg: 'EdDSA', key: otherEd.privateKey }),
      expired: await mint({ alg: 'EdDSA', key: ed.privateKey, expiresInS: -30 }),
      'wrong audience': await mint({ alg: 'EdDSA', key: ed.privateKey, audience: 'another-app' }),
      'wrong issuer': await mint({ alg: 'EdDSA', key: ed.privateKey, issuer: 'evil' }),
    };
    const outcomes: Record<string, number | 'open'> = {};
    for (const [name, token] of Object.entries(forged)) outcomes[name] = await handshake(stack().socketUrl, token);
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(forged).map((name) => [name, 403])));
    // The same gateway still lets the genuine token in: the refusals are about the tokens.
    expect(await handshake(stack().socketUrl, await mint({ alg: 'EdDSA', key: ed.privateKey }))).toBe('open');
  });

  it('an RS256 gateway holding only the public key verifies RS256 tokens, refuses EdDSA ones, and has dev login off', async () => {
    const rs = await stack().startExtra('gateway', {
      JWT_ALG: 'RS256',
      JWT_PUBLIC_KEY: spki(rsa.publicKey),
      // Empty = unset: the primary's Ed25519 private key is not passed on, so it cannot issue.
      JWT_PRIVATE_KEY: '',
      DEV_LOGIN: 'false',
    });
    try {
      const rsToken = await mint({ alg: 'RS256', key: rsa.privateKey });
      const reply = await chatAs(rs.socketUrl, rsToken, 'signed with RSA');
      expect(reply).toMatchObject({ status: 'ok', response: { text: 'signed with RSA', user_id: bob.id } });

      expect(await handshake(rs.socketUrl, await mint({ alg: 'EdDSA', key: ed.privateKey }))).toBe(403);
      expect(await handshake(rs.socketUrl, await mint({ alg: 'HS256', key: new TextEncoder().encode(spki(rsa.publicKey)) }))).toBe(403);
      // …and the EdDSA gateway refuses the RS256 token.
      expect(await handshake(stack().socketUrl, rsToken)).toBe(403);

      const login = await fetch(`${rs.gatewayUrl}/api/auth/dev-login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice' }),
      });
      expect(login.status).toBe(404);
      expect(await login.json()).toEqual({ code: 'not_found', message: 'dev login is disabled' });
    } finally {
      await rs.kill('SIGTERM');
    }
  });
});

describe('gateway startup with unusable token keys', () => {
  const main = path.join(REPO_ROOT, 'services', 'gateway', 'dist', 'main.js');
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

  it('exits 78 naming the variable: an Ed25519 key for RS256, dev login without a private key, a foreign private key', async () => {
    expect(await start({ JWT_ALG: 'RS256', JWT_PUBLIC_KEY: oneLine(spki(ed.publicKey)) })).toEqual({
      code: 78,
      stderr:
        'invalid configuration: JWT_PUBLIC_KEY: holds a key of type ed25519, but JWT_ALG=RS256 needs an RSA key (rsaEncryption) of at least 2048 bits\n',
    });
    expect(await start({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: oneLine(spki(ed.publicKey)), DEV_LOGIN: 'true' })).toEqual({
      code: 78,
      stderr:
        'invalid configuration: DEV_LOGIN: dev login issues tokens, which JWT_ALG=EdDSA signs with the private key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE, or DEV_LOGIN=false\n',
    });
    expect(
      await start({ JWT_ALG: 'EdDSA', JWT_PUBLIC_KEY: oneLine(spki(ed.publicKey)), JWT_PRIVATE_KEY: pkcs8(otherEd.privateKey) }),
    ).toEqual({
      code: 78,
      stderr:
        'invalid configuration: JWT_PRIVATE_KEY: is not the private half of JWT_PUBLIC_KEY: tokens it signed would be refused by this gateway\n',
    });
  });
});
