import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { batchWrites } from './write-batch.js';

const open: Array<() => Promise<void>> = [];

/** A real ws pair on loopback (closed after the test): the server side's TCP socket is what batchWrites corks. */
async function pair() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  const received: string[] = [];
  client.on('message', (data: Buffer) => received.push(data.toString()));
  open.push(async () => {
    client.close();
    await new Promise((r) => wss.close(r));
  });
  return { server, received };
}

describe('batchWrites', () => {
  afterEach(async () => {
    for (const close of open.splice(0)) await close();
  });

  /** Counts the socket's system writes (`_write` of one buffer, `_writev` of several). */
  const writesOf = (ws: WebSocket) => {
    const socket = (ws as unknown as { _socket: Record<'_write' | '_writev', (...args: unknown[]) => unknown> })._socket;
    let writes = 0;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method].bind(socket);
      socket[method] = (...args: unknown[]) => {
        writes++;
        return original(...args);
      };
    }
    return () => writes;
  };

  it('the frames of one turn to one socket leave in one system write, in order', async () => {
    const { server, received } = await pair();
    const writes = writesOf(server);
    for (let i = 0; i < 5; i++) {
      batchWrites(server);
      server.send(`frame ${i}`);
    }
    await vi.waitFor(() => expect(received).toHaveLength(5));
    expect(received).toEqual(['frame 0', 'frame 1', 'frame 2', 'frame 3', 'frame 4']);
    expect(writes()).toBe(1);
  });

  it('without it, each frame is a write of its own (what it saves)', async () => {
    const { server, received } = await pair();
    const writes = writesOf(server);
    for (let i = 0; i < 5; i++) server.send(`frame ${i}`);
    await vi.waitFor(() => expect(received).toHaveLength(5));
    expect(writes()).toBeGreaterThan(1);
  });

  it('frames of a later turn are written in that turn, not held', async () => {
    const { server, received } = await pair();
    batchWrites(server);
    server.send('first');
    await vi.waitFor(() => expect(received).toEqual(['first']));
    batchWrites(server);
    server.send('second');
    await vi.waitFor(() => expect(received).toEqual(['first', 'second']));
  });
});
