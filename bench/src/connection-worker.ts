import { PhxClient } from './phx-client.js';
import { nth, requiredEnv } from './util.js';

/**
 * A child process holding idle joined sockets (a process may hold only so many file descriptors).
 * Messages from the parent: {open: n, from: i} opens n more, socket i joining
 * `project:<projects[i % projects.length]>`; {close: true} ends. Each join is timed twice: until
 * its reply (the room snapshot) and until its `presence_state` (presence tracked it: the joiner
 * sees itself online), the figure of how fast presence settles.
 */
const socketUrl = requiredEnv('SOCKET_URL');
const tokens = JSON.parse(requiredEnv('TOKENS')) as string[];
const projects = JSON.parse(requiredEnv('PROJECTS')) as number[];
const clients: PhxClient[] = [];

async function openOne(index: number): Promise<{ client: PhxClient; replyMs: number; presenceMs: number }> {
  const c = await PhxClient.connect(socketUrl, nth(tokens, index));
  const topic = `project:${nth(projects, index)}`;
  const started = performance.now();
  let presenceAt = 0;
  const presence = new Promise<void>((resolve) => {
    c.onEvent = (t, event, _payload, at) => {
      if (t === topic && event === 'presence_state' && presenceAt === 0) {
        presenceAt = at;
        resolve();
      }
    };
  });
  await c.join(topic, 60_000);
  const replyMs = performance.now() - started;
  await Promise.race([
    presence,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no presence_state within 60 s')), 60_000).unref()),
  ]);
  c.onEvent = null; // idle from now on: diffs of the room are received and dropped
  return { client: c, replyMs, presenceMs: presenceAt - started };
}

process.on('message', (msg: { open?: number; from?: number; close?: boolean }) => void onMessage(msg));

async function onMessage(msg: { open?: number; from?: number; close?: boolean }): Promise<void> {
  if (msg.close) {
    for (const c of clients) c.close();
    process.exit(0);
  }
  if (msg.open) {
    const started = performance.now();
    const from = msg.from ?? 0;
    let failed = 0;
    const replyMs: number[] = [];
    const presenceMs: number[] = [];
    for (let i = 0; i < msg.open; i += 50) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(50, msg.open - i) }, (_, j) => openOne(from + i + j)));
      for (const r of batch) {
        if (r.status === 'fulfilled') {
          clients.push(r.value.client);
          replyMs.push(r.value.replyMs);
          presenceMs.push(r.value.presenceMs);
        } else failed++;
      }
    }
    process.send?.({ opened: clients.length, failed, seconds: (performance.now() - started) / 1000, replyMs, presenceMs });
  }
}
process.send?.({ ready: true });
