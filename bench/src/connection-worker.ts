import { PhxClient } from './phx-client.js';

/**
 * A child process holding idle joined sockets (a process may hold only so many file descriptors).
 * Messages from the parent: {open: n} opens n more (joined to project:1), {close: true} ends.
 */
const socketUrl = process.env.SOCKET_URL!;
const tokens = JSON.parse(process.env.TOKENS!) as string[];
const clients: PhxClient[] = [];

process.on('message', async (msg: { open?: number; close?: boolean }) => {
  if (msg.close) {
    for (const c of clients) c.close();
    process.exit(0);
  }
  if (msg.open) {
    const started = performance.now();
    let failed = 0;
    for (let i = 0; i < msg.open; i += 50) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(50, msg.open - i) }, async (_, j) => {
          const c = await PhxClient.connect(socketUrl, tokens[(clients.length + i + j) % tokens.length]!);
          await c.join('project:1', 60_000);
          return c;
        }),
      );
      for (const r of batch) {
        if (r.status === 'fulfilled') clients.push(r.value);
        else failed++;
      }
    }
    process.send?.({ opened: clients.length, failed, seconds: (performance.now() - started) / 1000 });
  }
});
process.send?.({ ready: true });
