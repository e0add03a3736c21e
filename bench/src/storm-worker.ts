import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PhxClient, type Reply } from './phx-client.js';
import { reconnectAfterMs, RoomPresence, WEB_CLIENT, type Member, type StormWorkerReport } from './storm.js';
import { nth, requiredEnv } from './util.js';

/**
 * A child process of the reconnect storm. Messages from the parent: {setup: {from, count, roomSize}}
 * connects sockets from…from+count-1 (socket i in room `project:<projects[floor(i / roomSize)]>`,
 * whole rooms only), joins them as the web client would and answers once every view of presence is
 * exact; {arm: true} marks the joins seen so far as the old gateway's (ghosts once it dies) and
 * starts counting; then, once every socket lost its connection, came back, rejoined and sees
 * exactly its room's live joins (or STORM_TIMEOUT_MS passed), it reports; {close: true} ends.
 *
 * Each socket behaves as the stock phoenix client with the web app's ReconnectPolicy: on a lost
 * connection it reconnects after reconnectAfterMs(tries) (tries counting failed attempts, reset
 * when open); once open it rejoins at once; a join refused is tried again after
 * max(reconnectAfterMs(rejoin tries), the latest retry_after_ms − now); a join with no answer in
 * 10 s is left (phx_leave) and tried again on the same schedule.
 */
const socketUrl = requiredEnv('SOCKET_URL');
const tokens = JSON.parse(requiredEnv('TOKENS')) as string[];
const projects = JSON.parse(requiredEnv('PROJECTS')) as number[];
const stormTimeoutMs = Number(process.env.STORM_TIMEOUT_MS ?? 300_000);
const now = () => performance.timeOrigin + performance.now();

/** The user id (`sub`) of a session token. */
function userIdOf(token: string): number {
  const payload = token.split('.')[1] ?? '';
  return Number((JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub: string }).sub);
}

type Metas = Record<string, { metas: Array<{ phx_ref: string }> }>;
let armed = false;
const stats = { joinsSent: 0, rateLimited: 0, connectFailures: 0, errors: {} as Record<string, number> };
const ghostLeaves = { first: 0, last: 0 };
/** After the kill: how long each connection attempt took until open, or until it failed. */
const connectMs: number[] = [];
const failedConnectMs: number[] = [];

class StormSocket {
  private c: PhxClient | null = null;
  /** The phoenix Timer's tries: the socket's reconnects (reset when open) and the channel's rejoins (reset when joined or open). */
  private reconnectTries = 0;
  private rejoinTries = 0;
  /** No rejoin before this (Date.now ms): the latest retry-after the gateway asked for. */
  private notBefore = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Presence events count only between a join sent and its end (left, refused, connection lost). */
  private joining = false;
  joined = false;
  lostAt = 0;
  reopenedAt = 0;
  rejoinedAt = 0;
  stopped = false;

  constructor(
    private readonly token: string,
    private readonly userId: number,
    private readonly topic: string,
    private readonly room: RoomPresence,
    readonly member: Member,
  ) {}

  /** Connects (and then joins); resolves once the first attempt opened or failed. */
  async connect(): Promise<boolean> {
    const started = now();
    try {
      const c = await PhxClient.connect(socketUrl, this.token, { heartbeatMs: 30_000 });
      if (this.stopped) {
        c.close();
        return false;
      }
      if (armed) connectMs.push(now() - started);
      this.opened(c);
      return true;
    } catch {
      if (armed) {
        stats.connectFailures++;
        failedConnectMs.push(now() - started);
      }
      this.scheduleReconnect();
      return false;
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.clearTimer();
    this.timer = setTimeout(
      () => {
        this.reconnectTries++;
        void this.connect();
      },
      reconnectAfterMs(this.reconnectTries + 1),
    );
  }

  private opened(c: PhxClient): void {
    this.c = c;
    this.reconnectTries = 0;
    this.rejoinTries = 0;
    if (armed && this.lostAt > 0 && this.reopenedAt === 0) this.reopenedAt = now();
    c.onEvent = (topic, event, payload, at) => {
      if (c !== this.c || topic !== this.topic || !this.joining) return;
      const t = performance.timeOrigin + at;
      if (event === 'presence_state') this.room.state(this.member, payload as Metas, this.userId, t);
      else if (event === 'presence_diff') {
        const diff = payload as { joins: Metas; leaves: Metas };
        if (armed)
          for (const { metas } of Object.values(diff.leaves))
            for (const m of metas)
              if (this.room.isGhost(m.phx_ref)) {
                if (ghostLeaves.first === 0) ghostLeaves.first = t;
                ghostLeaves.last = Math.max(ghostLeaves.last, t);
              }
        this.room.diff(this.member, diff, t);
      }
    };
    c.onClose = () => {
      if (c !== this.c) return;
      this.c = null;
      this.joining = false;
      this.joined = false;
      this.room.lost(this.member, now());
      if (armed && this.lostAt === 0) this.lostAt = now();
      // The channel's rejoin timer resets on a socket error; the socket schedules its reconnect.
      this.rejoinTries = 0;
      this.scheduleReconnect();
    };
    void this.join(c);
  }

  private async join(c: PhxClient): Promise<void> {
    this.clearTimer();
    if (armed) stats.joinsSent++;
    this.joining = true;
    const r: Reply = await c.request(this.topic, 'phx_join', {}, WEB_CLIENT.joinTimeoutMs, true);
    if (c !== this.c) return;
    if (r.status === 'ok') {
      this.joined = true;
      this.rejoinTries = 0;
      if (armed && this.lostAt > 0 && this.rejoinedAt === 0) this.rejoinedAt = now();
      return;
    }
    if (r.status === 'closed') return; // onClose reconnects
    this.joining = false;
    this.room.lost(this.member, now());
    const code = r.status === 'error' ? String((r.response as { code?: string } | null)?.code) : r.status;
    if (armed) stats.errors[code] = (stats.errors[code] ?? 0) + 1;
    if (r.status === 'timeout') {
      // As phoenix: the join that got no answer is left before it is tried again.
      void c.request(this.topic, 'phx_leave', {}, WEB_CLIENT.joinTimeoutMs);
    } else {
      const details = (r.response as { details?: { retry_after_ms?: unknown } } | null)?.details;
      const retryAfter = details?.retry_after_ms;
      if (code === 'rate_limited' && armed) stats.rateLimited++;
      if (typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter > 0)
        this.notBefore = Math.max(this.notBefore, Date.now() + Math.min(retryAfter, WEB_CLIENT.maxRetryAfterMs));
    }
    const delay = Math.max(reconnectAfterMs(this.rejoinTries + 1), this.notBefore - Date.now());
    this.timer = setTimeout(() => {
      this.rejoinTries++;
      if (this.c === c && c.isOpen) void this.join(c);
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.c?.close();
  }
}

const sockets: StormSocket[] = [];
const rooms: RoomPresence[] = [];

/** Resolves once `done()` holds, or after `timeoutMs`; polls (a worker's own bookkeeping, not a test wait). */
async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!done() && now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

type Command = { setup?: { from: number; count: number; roomSize: number }; arm?: boolean; close?: boolean };
process.on('message', (msg: Command) => void onMessage(msg));

async function onMessage(msg: Command): Promise<void> {
  if (msg.close) {
    for (const s of sockets) s.stop();
    process.exit(0);
  }
  if (msg.setup) {
    const { from, count, roomSize } = msg.setup;
    const byRoom = new Map<number, RoomPresence>();
    for (let i = 0; i < count; i += 100) {
      const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) => {
        const index = from + i + j;
        const roomIndex = Math.floor(index / roomSize);
        let room = byRoom.get(roomIndex);
        if (!room) {
          room = new RoomPresence();
          byRoom.set(roomIndex, room);
          rooms.push(room);
        }
        const token = nth(tokens, index);
        const s = new StormSocket(token, userIdOf(token), `project:${nth(projects, roomIndex)}`, room, room.add());
        sockets.push(s);
        return s.connect();
      });
      // A first attempt that failed is retried on the client's schedule like any other.
      await Promise.all(batch);
    }
    // Joins refused for load are retried by the sockets themselves; wait for all to be in.
    await until(() => rooms.every((r) => r.settled()), stormTimeoutMs);
    const failed = sockets.filter((s) => !s.joined).length;
    const unsettled = sockets.filter((s) => s.joined && s.member.exactSince === 0).length;
    process.send?.({ setUp: true, opened: sockets.length - failed, failed, unsettled });
  }
  if (msg.arm) {
    for (const r of rooms) r.markGhosts();
    armed = true;
    const cpuBefore = process.cpuUsage();
    // This process's own lag: on a starved machine the generator's timings include it.
    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    process.send?.({ armed: true });
    await until(() => sockets.every((s) => s.lostAt > 0) && rooms.every((r) => r.settled()), stormTimeoutMs);
    const report: StormWorkerReport = {
      stormed: true,
      lostAt: sockets.map((s) => s.lostAt),
      reopenedAt: sockets.map((s) => s.reopenedAt),
      rejoinedAt: sockets.map((s) => s.rejoinedAt),
      settledAt: sockets.map((s) => (s.joined ? s.member.exactSince : 0)),
      ghostFreeAt: sockets.map((s) => (s.lostAt > 0 && s.rejoinedAt > 0 ? s.member.ghostFreeSince : 0)),
      firstGhostLeaveAt: ghostLeaves.first,
      lastGhostLeaveAt: ghostLeaves.last,
      cpuSeconds: (() => {
        const used = process.cpuUsage(cpuBefore);
        return (used.user + used.system) / 1e6;
      })(),
      connectMs,
      failedConnectMs,
      loopDelayMs: { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
      ...stats,
    };
    process.send?.(report);
  }
}
process.send?.({ ready: true });
