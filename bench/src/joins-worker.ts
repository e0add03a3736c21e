import type { StormReport } from './joins.js';
import { PhxClient } from './phx-client.js';
import { nth, requiredEnv } from './util.js';

/**
 * A child process of the join storm (a process may hold only so many file descriptors). Messages
 * from the parent: {open: n, from: i, sockets: N} connects n sockets (not joined yet),
 * socket i to join `project:<projects[i % R]>`; {join: true} sends every socket's phx_join at
 * once and reports, per socket, when its reply came and when its view of the room's presence
 * (`presence_state` and `presence_diff`s) held every socket of the room (absolute ms, so the
 * parent can compare processes); {close: true} ends.
 */
const socketUrl = requiredEnv('SOCKET_URL');
const tokens = JSON.parse(requiredEnv('TOKENS')) as string[];
const projects = JSON.parse(requiredEnv('PROJECTS')) as number[];
const joinTimeoutMs = Number(process.env.JOIN_TIMEOUT_MS ?? 180_000);
const now = () => performance.timeOrigin + performance.now();

type PresenceState = Record<string, { metas: Array<{ phx_ref: string }> }>;
interface Socket {
  c: PhxClient;
  topic: string;
  /** Sockets in this room (the storm's total spread round robin). */
  expected: number;
  /** phx_refs this socket sees in its room. */
  view: Set<string>;
  settledAt: number;
}
const sockets: Socket[] = [];

function apply(s: Socket, state: PresenceState, add: boolean): void {
  for (const { metas } of Object.values(state))
    for (const m of metas) {
      if (add) s.view.add(m.phx_ref);
      else s.view.delete(m.phx_ref);
    }
}

function watch(s: Socket): void {
  s.c.onEvent = (topic, event, payload, at) => {
    if (topic !== s.topic) return;
    if (event === 'presence_state') apply(s, payload as PresenceState, true);
    else if (event === 'presence_diff') {
      const diff = payload as { joins: PresenceState; leaves: PresenceState };
      apply(s, diff.leaves, false);
      apply(s, diff.joins, true);
    } else return;
    if (s.settledAt === 0 && s.view.size >= s.expected) s.settledAt = performance.timeOrigin + at;
  };
}

type Command = { open?: number; from?: number; sockets?: number; join?: boolean; close?: boolean };
process.on('message', (msg: Command) => void onMessage(msg));

async function onMessage(msg: Command): Promise<void> {
  if (msg.close) {
    for (const s of sockets) s.c.close();
    process.exit(0);
  }
  if (msg.open) {
    const from = msg.from ?? 0;
    const total = msg.sockets ?? msg.open;
    let failed = 0;
    for (let i = 0; i < msg.open; i += 100) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(100, msg.open - i) }, async (_, j) => {
          const index = from + i + j;
          const c = await PhxClient.connect(socketUrl, nth(tokens, index), { heartbeatMs: 30_000 });
          const room = index % projects.length;
          const expected = Math.floor(total / projects.length) + (room < total % projects.length ? 1 : 0);
          const s: Socket = { c, topic: `project:${nth(projects, room)}`, expected, view: new Set(), settledAt: 0 };
          watch(s);
          return s;
        }),
      );
      for (const r of batch)
        if (r.status === 'fulfilled') sockets.push(r.value);
        else failed++;
    }
    process.send?.({ opened: sockets.length, failed });
  }
  if (msg.join) {
    const started = now();
    const errors: Record<string, number> = {};
    let retried = 0;
    const results = await Promise.all(
      sockets.map(async (s) => {
        const t0 = now();
        // A join refused `rate_limited` (the gateway's admission) is sent again after the
        // retry_after_ms it names, as the web client does: the latency is the user's, first send → ok.
        for (;;) {
          const sent = now();
          const r = await s.c.request(s.topic, 'phx_join', {}, joinTimeoutMs, true);
          if (r.status === 'ok') return { sentAt: t0, lastSentAt: sent, repliedAt: now(), ok: true };
          const response = r.response as { code?: string; details?: { retry_after_ms?: unknown } } | null;
          const code = r.status === 'error' ? String(response?.code) : r.status;
          const retryAfter = response?.details?.retry_after_ms;
          if (code === 'rate_limited' && typeof retryAfter === 'number' && now() - t0 < joinTimeoutMs) {
            retried++;
            await new Promise((resolve) => setTimeout(resolve, retryAfter));
            continue;
          }
          errors[code] = (errors[code] ?? 0) + 1;
          return { sentAt: t0, lastSentAt: sent, repliedAt: now(), ok: false };
        }
      }),
    );
    // Presence may settle after the last reply: wait (bounded) until every socket's view is complete.
    const until = now() + 60_000;
    while (sockets.some((s) => s.settledAt === 0) && now() < until) await new Promise((r) => setTimeout(r, 50));
    const report: StormReport = {
      joined: true,
      started,
      replyMs: results.filter((r) => r.ok).map((r) => r.repliedAt - r.sentAt),
      admittedMs: results.filter((r) => r.ok).map((r) => r.repliedAt - r.lastSentAt),
      lastReplyAt: Math.max(...results.map((r) => r.repliedAt)),
      failed: results.filter((r) => !r.ok).length,
      errors,
      retried,
      settledAt: sockets.map((s) => s.settledAt),
    };
    process.send?.(report);
  }
}
process.send?.({ ready: true });
