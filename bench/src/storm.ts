import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { summarize, type LatencySummary } from './stats.js';
import { nextMessage } from './util.js';

/**
 * The web client's reconnect and rejoin timing, copied (the bench does not build web/): its
 * ReconnectPolicy defaults (web/src/realtime/reconnect.ts: base 500 ms, cap 10 s, min 100 ms, full
 * jitter, a retry-after honoured up to 60 s) and the stock phoenix client's push timeout (10 s,
 * `DEFAULT_TIMEOUT`, which SocketProvider keeps). storm.unit.spec.ts checks the copy against the web's.
 */
export const WEB_CLIENT = { baseMs: 500, capMs: 10_000, minMs: 100, maxRetryAfterMs: 60_000, joinTimeoutMs: 10_000 } as const;

/** ReconnectPolicy.reconnectAfterMs: a random wait in [min, base × 2^(tries-1)], capped. */
export function reconnectAfterMs(tries: number, random: () => number = Math.random): number {
  const window = Math.min(WEB_CLIENT.capMs, WEB_CLIENT.baseMs * 2 ** Math.max(0, Math.min(tries - 1, 20)));
  return Math.round(WEB_CLIENT.minMs + random() * Math.max(0, window - WEB_CLIENT.minMs));
}

/** One socket of a room as the storm's settle detection sees it. */
export interface Member {
  /** The phx_refs this socket's presence view holds. */
  view: Set<string>;
  /** The phx_ref of this socket's own live join; null while it is not joined. */
  own: string | null;
  /** Since when (absolute ms) its view has been exactly the room's live joins; 0 while it is not. */
  exactSince: number;
  /** Since when its view has held no ghost (a join of before the kill); 0 while it holds one. */
  ghostFreeSince: number;
}

type PresenceMetas = Record<string, { metas: Array<{ phx_ref: string }> }>;
const refsOf = (state: PresenceMetas): string[] => Object.values(state).flatMap(({ metas }) => metas.map((m) => m.phx_ref));

/**
 * A room's presence as its sockets see it, and whether each view is exactly the room's live joins
 * (the own phx_ref of every socket joined now: neither a ghost of a dead connection nor a join
 * missing). A socket's own ref is the last meta under its user in the `presence_state` its join
 * got (the gateway appends the joiner's tracked meta there: withOwnMeta in the gateway's
 * presence-tracker). Every change re-checks the views it may affect, at the time it happened.
 */
export class RoomPresence {
  readonly members: Member[] = [];
  /** Refs of joins made before the kill: once the old gateway died, any of them in a view is a ghost. */
  private ghosts = new Set<string>();

  add(): Member {
    const m: Member = { view: new Set(), own: null, exactSince: 0, ghostFreeSince: 0 };
    this.members.push(m);
    return m;
  }

  /** The live joins: every member's own ref. */
  live(): Set<string> {
    const refs = new Set<string>();
    for (const m of this.members) if (m.own !== null) refs.add(m.own);
    return refs;
  }

  /** Marks every ref seen so far as a join of the old gateway (call right before killing it). */
  markGhosts(): void {
    for (const m of this.members) {
      for (const r of m.view) this.ghosts.add(r);
      m.ghostFreeSince = 0;
    }
  }

  isGhost(ref: string): boolean {
    return this.ghosts.has(ref);
  }

  /** A `presence_state` for a join of `m` by user `userId`: the view is replaced and `m`'s own ref is its last meta under that user. */
  state(m: Member, state: PresenceMetas, userId: number, at: number): void {
    m.view = new Set(refsOf(state));
    m.own = state[String(userId)]?.metas.at(-1)?.phx_ref ?? null;
    this.checkAll(at);
  }

  diff(m: Member, diff: { joins: PresenceMetas; leaves: PresenceMetas }, at: number): void {
    for (const r of refsOf(diff.leaves)) m.view.delete(r);
    for (const r of refsOf(diff.joins)) m.view.add(r);
    this.check(m, this.live(), at);
  }

  /** `m`'s connection is gone (or its join given up): it is no longer a live join. */
  lost(m: Member, at: number): void {
    if (m.own === null) return;
    m.own = null;
    this.checkAll(at);
  }

  /** Every member joined and every view exact. */
  settled(): boolean {
    return this.members.every((m) => m.own !== null && m.exactSince > 0);
  }

  private checkAll(at: number): void {
    const live = this.live();
    for (const m of this.members) this.check(m, live, at);
  }

  private check(m: Member, live: Set<string>, at: number): void {
    const exact = m.own !== null && m.view.size === live.size && [...live].every((r) => m.view.has(r));
    if (!exact) m.exactSince = 0;
    else if (m.exactSince === 0) m.exactSince = at;
    const ghostFree = ![...m.view].some((r) => this.ghosts.has(r));
    if (!ghostFree) m.ghostFreeSince = 0;
    else if (m.ghostFreeSince === 0) m.ghostFreeSince = at;
  }
}

/** What a storm worker reports once its sockets are back (times absolute ms: performance.timeOrigin + now). */
export interface StormWorkerReport {
  stormed: true;
  /** Per socket: its connection closed, was open again, its room rejoined, view exact, view free of ghosts (0: never). */
  lostAt: number[];
  reopenedAt: number[];
  rejoinedAt: number[];
  settledAt: number[];
  ghostFreeAt: number[];
  /** Ghosts' leaves (presence_diff) seen by any socket: first and last (0: none). */
  firstGhostLeaveAt: number;
  lastGhostLeaveAt: number;
  joinsSent: number;
  /** Connection attempts after the kill: start → open, start → failed. */
  connectMs: number[];
  failedConnectMs: number[];
  /** This worker's event-loop delay after the kill (its timings include it). */
  loopDelayMs: { p99: number; max: number };
  /** CPU seconds this worker spent (user + system) from the arm to its report: is the generator the bottleneck? */
  cpuSeconds: number;
  rateLimited: number;
  connectFailures: number;
  errors: Record<string, number>;
}

export interface StormResult {
  sockets: number;
  rooms: number;
  /** Kill → the new gateway answered /readyz (the harness's start). */
  gatewayBackMs: number;
  /** Kill → the last socket's connection open again. */
  killToAllReconnectedMs: number;
  /** Kill → the last socket's room join answered `ok`; NaN if some never were. */
  killToAllRejoinedMs: number;
  /** Kill → the last socket's view without ghosts (the dead gateway's joins); NaN if some never were. */
  killToGhostsGoneMs: number;
  /** Kill → every socket's view exactly its room's live joins; NaN if some never were. */
  killToPresenceSettledMs: number;
  /** Kill → the first and last ghost leave any socket saw (presence's TTL sweep). */
  ghostLeavesMs: { first: number; last: number };
  /** Per socket, kill → its connection open again. */
  reconnectLatency: LatencySummary;
  /** Per socket, kill → its room rejoined. */
  rejoinLatency: LatencySummary;
  /** Per socket, its connection open again → its room rejoined (join admission: rate_limited waits, queueing). */
  reconnectToRejoin: LatencySummary;
  /** Connection attempts after the kill, start → open (the gateway's accept and upgrade queue) and start → refused. */
  connectAttempt: LatencySummary;
  failedConnectAttempt: LatencySummary;
  /** CPU seconds of the load generator's worker processes from the kill to their reports. */
  workerCpuSeconds: number;
  /** The generator workers' worst event-loop delay after the kill (p99 and max over workers): its own lag, in every time above. */
  generatorLoopDelayMs: { p99: number; max: number };
  /** Joins answered `rate_limited` (each retried after its retry_after_ms). */
  rateLimited: number;
  /** Joins sent beyond one per socket (after rate_limited, another error or a timeout). */
  retried: number;
  /** Reconnect attempts that failed (the gateway not listening yet). */
  connectFailures: number;
  /** Sockets not rejoined within the timeout. */
  failed: number;
  /** Sockets whose view was not exact at the end. */
  unsettled: number;
  /** Join answers other than ok, by code (`timeout`: none within the client's 10 s). */
  errors: Record<string, number>;
}

/** Time from `from` to the latest of `times` (NaN if any is 0: never happened). */
export function untilLast(times: number[], from: number): number {
  if (times.length === 0 || times.some((t) => t === 0)) return NaN;
  return Math.max(...times) - from;
}

/**
 * A reconnect storm: `sockets` sockets connected and joined (rooms of `roomSize`, each room in one
 * worker process) with presence settled; the gateway is killed (`kill`, SIGKILL) and started again
 * on its port (`restart`); every socket reconnects and rejoins on the web client's jittered schedule,
 * honouring the gateway's rate_limited retry-afters, until all are back with presence exact.
 */
export async function runReconnectStorm(opts: {
  socketUrl: string;
  tokens: string[];
  projects: number[];
  sockets: number;
  roomSize: number;
  perWorker: number;
  kill: () => Promise<void>;
  restart: () => Promise<void>;
  /** After the kill, how long the sockets get to come back (default 300 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}): Promise<StormResult> {
  const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const script = fileURLToPath(new URL('./storm-worker.js', import.meta.url));
  // Whole rooms per worker: each worker sees every socket of its rooms, so it can tell a ghost.
  const perWorker = Math.max(opts.roomSize, Math.floor(opts.perWorker / opts.roomSize) * opts.roomSize);
  const rooms = Math.ceil(opts.sockets / opts.roomSize);
  if (opts.projects.length < rooms) throw new Error(`the storm needs ${rooms} rooms, got ${opts.projects.length}`);
  const workers: ChildProcess[] = [];
  const now = () => performance.timeOrigin + performance.now();
  try {
    let opened = 0;
    for (let from = 0; from < opts.sockets; from += perWorker) {
      const w = fork(script, {
        env: {
          ...process.env,
          SOCKET_URL: opts.socketUrl,
          TOKENS: JSON.stringify(opts.tokens),
          PROJECTS: JSON.stringify(opts.projects),
          STORM_TIMEOUT_MS: String(opts.timeoutMs ?? 300_000),
        },
        stdio: 'inherit',
      });
      workers.push(w);
      await nextMessage(w, (m) => m.ready === true);
      const count = Math.min(perWorker, opts.sockets - from);
      w.send({ setup: { from, count, roomSize: opts.roomSize } });
      const r = await nextMessage<{ opened: number; failed: number; unsettled: number }>(w, (m) => m.setUp === true);
      if (r.failed > 0 || r.unsettled > 0)
        throw new Error(`storm setup: ${r.failed} sockets failed to connect or join, ${r.unsettled} views not settled (sockets ${from}…)`);
      opened += r.opened;
    }
    log(`  ${opened} sockets joined, presence settled; kill -9 the gateway…`);
    await Promise.all(workers.map((w) => (w.send({ arm: true }), nextMessage(w, (m) => m.armed === true))));
    const reports = workers.map((w) => nextMessage<StormWorkerReport>(w, (m) => m.stormed === true));
    const killAt = now();
    await opts.kill();
    await opts.restart();
    const gatewayBackMs = now() - killAt;
    log(`  gateway back after ${Math.round(gatewayBackMs)} ms; waiting for every socket…`);
    const results = await Promise.all(reports);
    const all = (k: 'lostAt' | 'reopenedAt' | 'rejoinedAt' | 'settledAt' | 'ghostFreeAt') => results.flatMap((r) => r[k]);
    const rejoinedAt = all('rejoinedAt');
    const reopenedAt = all('reopenedAt');
    const settledAt = all('settledAt');
    const since = (ts: number[]) => ts.filter((t) => t > 0).map((t) => t - killAt);
    const errors: Record<string, number> = {};
    for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
    const leaves = results.flatMap((r) => [r.firstGhostLeaveAt, r.lastGhostLeaveAt]).filter((t) => t > 0);
    const sum = (k: 'joinsSent' | 'rateLimited' | 'connectFailures') => results.reduce((a, r) => a + r[k], 0);
    return {
      sockets: opened,
      rooms,
      gatewayBackMs,
      killToAllReconnectedMs: untilLast(reopenedAt, killAt),
      killToAllRejoinedMs: untilLast(rejoinedAt, killAt),
      killToGhostsGoneMs: untilLast(all('ghostFreeAt'), killAt),
      killToPresenceSettledMs: untilLast(settledAt, killAt),
      ghostLeavesMs: leaves.length
        ? { first: Math.min(...leaves) - killAt, last: Math.max(...leaves) - killAt }
        : { first: NaN, last: NaN },
      reconnectLatency: summarize(since(reopenedAt)),
      rejoinLatency: summarize(since(rejoinedAt)),
      reconnectToRejoin: summarize(rejoinedAt.flatMap((t, i) => (t > 0 && (reopenedAt[i] ?? 0) > 0 ? [t - (reopenedAt[i] ?? 0)] : []))),
      connectAttempt: summarize(results.flatMap((r) => r.connectMs)),
      failedConnectAttempt: summarize(results.flatMap((r) => r.failedConnectMs)),
      generatorLoopDelayMs: {
        p99: Math.max(...results.map((r) => r.loopDelayMs.p99)),
        max: Math.max(...results.map((r) => r.loopDelayMs.max)),
      },
      workerCpuSeconds: Math.round(results.reduce((a, r) => a + r.cpuSeconds, 0) * 100) / 100,
      rateLimited: sum('rateLimited'),
      retried: sum('joinsSent') - opened,
      connectFailures: sum('connectFailures'),
      failed: rejoinedAt.filter((t) => t === 0).length,
      unsettled: settledAt.filter((t) => t === 0).length,
      errors,
    };
  } finally {
    for (const w of workers) if (w.connected) w.send({ close: true });
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  }
}
