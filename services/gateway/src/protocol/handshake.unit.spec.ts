import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { SessionUser } from '../auth/tokens.js';
import { acceptSocketUpgrades } from './handshake.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const user: SessionUser = { id: 1, username: 'alice', role: 'admin', avatar_url: '/a.svg', scopes: [], expiresAt: Date.now() + 3_600_000 };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('acceptSocketUpgrades', () => {
  it('an open socket does not keep its upgrade request (headers, the URL with the token) alive', async () => {
    const server = createServer();
    let request: WeakRef<IncomingMessage> | undefined;
    server.on('upgrade', (req: IncomingMessage) => (request = new WeakRef(req)));
    const opened: WebSocket[] = [];
    const stop = acceptSocketUpgrades(server, {
      config: { MAX_FRAME_BYTES: 65_536, ALLOWED_ORIGINS: null },
      tokens: { verify: () => Promise.resolve(user) },
      logger: pino({ level: 'silent' }),
      now: Date.now,
      hasRoomFor: () => true,
      accept: (ws) => opened.push(ws),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(stop);
    const { port } = server.address() as AddressInfo;
    const client = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0&token=${'t'.repeat(300)}`);
    cleanups.push(() => client.terminate());
    await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
    await expect.poll(() => opened.length).toBe(1);
    expect(request).toBeDefined();
    // Collected once nothing holds it; a few rounds, for what settles on the next turns of the loop.
    await expect
      .poll(() => {
        gc();
        return request?.deref();
      })
      .toBeUndefined();
    expect(opened[0]?.readyState).toBe(WebSocket.OPEN);
  });
});
