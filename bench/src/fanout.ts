import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { cpuMicros } from './cpu.js';
import { PhxClient } from './phx-client.js';
import { nth } from './util.js';
import { summarize, type LatencySummary } from './stats.js';

export interface FanoutResult {
  target: 'gateway' | 'baseline';
  watchers: number;
  messages: number;
  /** Delivery latency from send to each watcher's receipt, paced sends. */
  latency: LatencySummary;
  /** Deliveries per second when sending as fast as deliveries complete (window of in-flight messages). */
  deliveriesPerSecond: number;
  /** CPU time (user + system) the fanning-out process spent per delivery during the burst, in µs. */
  cpuMicrosPerDelivery: number;
  lost: number;
}

export interface FanoutTarget {
  name: 'gateway' | 'baseline';
  /** The process that fans out (its CPU time is measured). */
  pid: number;
  socketUrl: string;
  tokens: string[];
  /** Sends one broadcast carrying `payload` to everyone on project:1. */
  send(payload: { seq: number; t: number }): void;
}

/** Gateway: a projection published on NATS, fanned out by the gateway to the joined sockets. */
export function gatewayTarget(socketUrl: string, tokens: string[], nats: NatsConnection, pid: number): FanoutTarget {
  const enc = new TextEncoder();
  return {
    name: 'gateway',
    pid,
    socketUrl,
    tokens,
    send: (payload) =>
      nats.publish('project.1.eph.chat.bench', enc.encode(JSON.stringify({ broadcast: { event: 'bench:message', payload } }))),
  };
}

/** Baseline: the sender pushes to the bare ws server, which broadcasts. */
export async function baselineTarget(socketUrl: string, pid: number): Promise<FanoutTarget> {
  const sender = await PhxClient.connect(socketUrl, 'x');
  return { name: 'baseline', pid, socketUrl, tokens: ['x'], send: (payload) => void sender.push('project:1', 'bench:broadcast', payload) };
}

export async function runFanout(
  target: FanoutTarget,
  watchers: number,
  opts: { pacedMessages: number; burstMessages: number; window: number },
): Promise<FanoutResult> {
  const clients: PhxClient[] = [];
  const received = new Map<number, number>(); // seq → deliveries
  const latencies: number[] = [];
  let lastDelivery = 0;
  try {
    for (let i = 0; i < watchers; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, watchers - i) }, async (_, j) => {
          const c = await PhxClient.connect(target.socketUrl, nth(target.tokens, i + j));
          await c.join('project:1');
          return c;
        }),
      );
      clients.push(...batch);
    }
    for (const c of clients) {
      c.onEvent = (_topic, event, body, at) => {
        if (event !== 'bench:message') return;
        const payload = body as { seq: number; t: number };
        received.set(payload.seq, (received.get(payload.seq) ?? 0) + 1);
        if (payload.seq < opts.pacedMessages) latencies.push(at - payload.t);
        lastDelivery = at;
      };
    }
    await sleep(300);
    // Latency: paced sends, one at a time, each allowed to complete.
    for (let seq = 0; seq < opts.pacedMessages; seq++) {
      target.send({ seq, t: performance.now() });
      await waitFor(() => (received.get(seq) ?? 0) >= watchers, 5_000);
      await sleep(20);
    }
    // Throughput: keep `window` messages in flight.
    const first = opts.pacedMessages;
    const last = first + opts.burstMessages - 1;
    const started = performance.now();
    const cpuBefore = cpuMicros(target.pid);
    for (let seq = first; seq <= last; seq++) {
      if (seq - opts.window >= first) await waitFor(() => (received.get(seq - opts.window) ?? 0) >= watchers, 10_000);
      target.send({ seq, t: performance.now() });
    }
    await waitFor(() => (received.get(last) ?? 0) >= watchers, 10_000);
    const cpuSpent = cpuMicros(target.pid) - cpuBefore;
    const elapsed = (lastDelivery - started) / 1000;
    let delivered = 0;
    for (let seq = first; seq <= last; seq++) delivered += received.get(seq) ?? 0;
    const expected = watchers * (opts.pacedMessages + opts.burstMessages);
    const total = [...received.values()].reduce((a, b) => a + b, 0);
    return {
      target: target.name,
      watchers,
      messages: opts.pacedMessages + opts.burstMessages,
      latency: summarize(latencies),
      deliveriesPerSecond: delivered / elapsed,
      cpuMicrosPerDelivery: cpuSpent / delivered,
      lost: expected - total,
    };
  } finally {
    for (const c of clients) c.close();
    await sleep(500);
  }
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > until) return false;
    await sleep(1);
  }
  return true;
}
