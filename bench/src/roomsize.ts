import { setTimeout as sleep } from 'node:timers/promises';
import { CpuMeter, cpuMsPer } from './cpu.js';
import { markerOf } from './room.js';
import { PhxClient } from './phx-client.js';
import { summarize, type LatencySummary } from './stats.js';
import type { BenchUser } from './users.js';
import { nth } from './util.js';

export interface RoomSizeResult {
  /** Members of the project (not sockets: five of them are joined, one posts). */
  members: number;
  posts: number;
  /** chat:message push → its reply (the message is stored), one post at a time. */
  replyLatency: LatencySummary;
  /** push → each joined member's `chat:new_message` (the sender's own included). */
  deliveryLatency: LatencySummary;
  /** Mean reply latency of the first and the last fifth of the posts (unread messages pile up: nobody reads). */
  firstFifthMeanMs: number;
  lastFifthMeanMs: number;
  /** CPU seconds per process group during the posts, and per post in ms. */
  cpuSeconds: Record<string, number>;
  cpuMsPerPost: Record<string, number>;
}

/**
 * What one chat post costs in a room of `members.length` members: five of them joined and take
 * turns posting `posts` messages, one after another (closed loop). Run for a small and a large room in
 * turn; a post's cost should not depend on the number of members.
 */
export async function runRoomSize(
  socketUrl: string,
  members: BenchUser[],
  opts: { posts: number; cpu: Record<string, () => number[]> },
): Promise<RoomSizeResult> {
  const joined = members.slice(0, 5);
  const topic = `project:${joined[0]?.projectId ?? 0}`;
  const sent = new Map<string, number>();
  const deliveries: number[] = [];
  const clients = await Promise.all(
    joined.map(async (u) => {
      const c = await PhxClient.connect(socketUrl, u.token);
      await c.join(topic);
      c.onEvent = (_t, event, payload, at) => {
        if (event !== 'chat:new_message') return;
        const t0 = sent.get(markerOf((payload as { text?: string }).text) ?? '');
        if (t0 !== undefined) deliveries.push(at - t0);
      };
      return c;
    }),
  );
  try {
    const replies: number[] = [];
    const meter = new CpuMeter(opts.cpu);
    meter.start();
    for (let i = 0; i < opts.posts; i++) {
      const marker = `s${members.length}x${i}`;
      const t0 = performance.now();
      sent.set(marker, t0);
      // The joined members take turns (chat allows a user 60 messages a minute).
      const r = await nth(clients, i).push(topic, 'chat:message', { text: `post ${i} #${marker}` });
      if (r.status !== 'ok') throw new Error(`chat:message in a room of ${members.length}: ${JSON.stringify(r)}`);
      replies.push(performance.now() - t0);
    }
    const cpuSeconds = meter.stop();
    await sleep(500);
    const fifth = Math.max(1, Math.floor(opts.posts / 5));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      members: members.length,
      posts: opts.posts,
      replyLatency: summarize(replies),
      deliveryLatency: summarize(deliveries),
      firstFifthMeanMs: mean(replies.slice(0, fifth)),
      lastFifthMeanMs: mean(replies.slice(-fifth)),
      cpuSeconds,
      cpuMsPerPost: cpuMsPer(cpuSeconds, opts.posts, 3),
    };
  } finally {
    for (const c of clients) c.close();
  }
}
