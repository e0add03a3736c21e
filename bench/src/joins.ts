import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseExposition, valueOf } from '@siteflow/testing';
import { summarize, type LatencySummary } from './stats.js';
import { nextMessage } from './util.js';

/** What a joins worker reports after its storm (times are absolute ms: performance.timeOrigin + now). */
export interface StormReport {
  joined: true;
  started: number;
  replyMs: number[];
  /** The attempt answered `ok`: its phx_join → its reply (the first send if it was never refused). */
  admittedMs: number[];
  lastReplyAt: number;
  failed: number;
  errors: Record<string, number>;
  /** Joins sent again after a `rate_limited` refusal (the gateway's admission), as the web client does. */
  retried: number;
  /** Per socket, when its presence view was complete; 0 if never. */
  settledAt: number[];
}

export interface JoinStormResult {
  sockets: number;
  rooms: number;
  /** From the first phx_join sent until the last reply (or failure) came. */
  seconds: number;
  joinsPerSecond: number;
  /** First phx_join → the `ok` reply (retries after `rate_limited` included), for every join answered `ok`. */
  replyLatency: LatencySummary;
  /** The admitted attempt's phx_join → its `ok` reply (the gateway's work on a join it took). */
  admittedLatency: LatencySummary;
  /** From the first phx_join sent until every socket saw every socket of its room in presence; NaN if some never did. */
  presenceSettledMs: number;
  /** Sockets whose view of presence never completed (within 60 s of the last reply). */
  unsettled: number;
  /** Sockets that could not connect, and joins refused or timed out. */
  failed: number;
  /** Failed joins by error code (`timeout`: no reply within the worker's JOIN_TIMEOUT_MS). */
  errors: Record<string, number>;
  /** Joins refused `rate_limited` and sent again after their retry_after_ms (not failures). */
  retried: number;
  /** The gateway's NATS requests to services during the storm per join answered, by subject (its /metrics). */
  requestsPerJoin: Record<string, number>;
}

/**
 * Then every socket closed at once (a client network that dropped): from the close until the
 * gateway's untracks of all of them were answered ok (its /metrics), and the untracks presence
 * answered otherwise (refused for load, timed out) meanwhile. Measured after the storm's CPU
 * window, so the storm's figures stay comparable with earlier runs.
 */
export interface MassCloseResult {
  sockets: number;
  /** Close sent → every joined socket's untrack answered ok; null if not within MASS_CLOSE_WAIT_MS. */
  untrackedMs: number | null;
  /** Untracks answered other than ok meanwhile (each is retried). */
  untracksFailed: number;
}

/** How long the mass close is watched before it is reported as not finished. */
const MASS_CLOSE_WAIT_MS = 120_000;

/**
 * A gateway's worth of users coming back at once (a restart): `sockets` connected sockets, spread
 * round robin over `projects` (rooms of sockets / projects), all send phx_join at the same moment.
 */
export async function runJoinStorm(opts: {
  socketUrl: string;
  gatewayUrl: string;
  tokens: string[];
  projects: number[];
  sockets: number;
  perWorker: number;
}): Promise<{ result: JoinStormResult; closeAll: () => Promise<MassCloseResult> }> {
  const script = fileURLToPath(new URL('./joins-worker.js', import.meta.url));
  const workers: ChildProcess[] = [];
  const close = async () => {
    for (const w of workers) if (w.connected) w.send({ close: true });
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  };
  try {
    let failed = 0;
    for (let from = 0; from < opts.sockets; from += opts.perWorker) {
      const w = fork(script, {
        env: {
          ...process.env,
          SOCKET_URL: opts.socketUrl,
          TOKENS: JSON.stringify(opts.tokens),
          PROJECTS: JSON.stringify(opts.projects),
        },
        stdio: 'inherit',
      });
      workers.push(w);
      await nextMessage(w, (m) => m.ready === true);
      w.send({ open: Math.min(opts.perWorker, opts.sockets - from), from, sockets: opts.sockets });
      const r = await nextMessage<{ opened: number; failed: number }>(w, (m) => typeof m.opened === 'number');
      failed += r.failed;
    }
    process.stdout.write(`  ${opts.sockets - failed} sockets connected; all join now…\n`);
    const requestsBefore = await gatewayRequestCounts(opts.gatewayUrl);
    const results = await Promise.all(
      workers.map((w) => {
        const done = nextMessage<StormReport>(w, (m) => m.joined === true);
        w.send({ join: true });
        return done;
      }),
    );
    const started = Math.min(...results.map((r) => r.started));
    const lastReply = Math.max(...results.map((r) => r.lastReplyAt));
    const settled: number[] = results.flatMap((r) => r.settledAt);
    const unsettled = settled.filter((t) => t === 0).length;
    const replyMs: number[] = results.flatMap((r) => r.replyMs);
    failed += results.reduce((a, r) => a + r.failed, 0);
    const errors: Record<string, number> = {};
    for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
    const seconds = (lastReply - started) / 1000;
    const requestsAfter = await gatewayRequestCounts(opts.gatewayUrl);
    const requestsPerJoin =
      requestsBefore && requestsAfter
        ? Object.fromEntries(
            Object.entries(requestsAfter).map(([subject, n]) => [
              subject,
              (n - (requestsBefore[subject] ?? 0)) / Math.max(1, replyMs.length),
            ]),
          )
        : {};
    const result: JoinStormResult = {
      sockets: opts.sockets,
      rooms: Math.min(opts.projects.length, opts.sockets),
      seconds,
      joinsPerSecond: replyMs.length / seconds,
      replyLatency: summarize(replyMs),
      admittedLatency: summarize(results.flatMap((r) => r.admittedMs)),
      presenceSettledMs: unsettled > 0 ? NaN : Math.max(...settled) - started,
      unsettled,
      failed,
      errors,
      retried: results.reduce((a, r) => a + r.retried, 0),
      requestsPerJoin,
    };
    const joined = replyMs.length;
    const closeAll = async (): Promise<MassCloseResult> => {
      const before = await untrackOutcomes(opts.gatewayUrl);
      const closedAt = performance.now();
      await close();
      let after = before;
      while (performance.now() - closedAt < MASS_CLOSE_WAIT_MS) {
        after = await untrackOutcomes(opts.gatewayUrl);
        if (after.ok - before.ok >= joined) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const done = after.ok - before.ok >= joined;
      return { sockets: joined, untrackedMs: done ? performance.now() - closedAt : null, untracksFailed: after.other - before.other };
    };
    return { result, closeAll };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The count of the gateway's request-duration histogram: one sample per subject and outcome. */
const REQUESTS = 'siteflow_gateway_nats_request_duration_seconds_count';

/** The gateway's `presence.untrack` requests so far: answered ok, and otherwise (its /metrics). */
async function untrackOutcomes(gatewayUrl: string): Promise<{ ok: number; other: number }> {
  const samples = parseExposition(await (await fetch(`${gatewayUrl}/metrics`)).text());
  const ok = valueOf(samples, REQUESTS, { subject: 'presence.untrack', outcome: 'ok' });
  return { ok, other: valueOf(samples, REQUESTS, { subject: 'presence.untrack' }) - ok };
}

/** The gateway's NATS requests so far by subject (every outcome); null if unread. */
async function gatewayRequestCounts(gatewayUrl: string): Promise<Record<string, number> | null> {
  let text: string;
  try {
    text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  } catch (err) {
    // A figure of the report, not the storm's: a failed read leaves it out.
    process.stderr.write(`gateway /metrics: ${String(err)}\n`);
    return null;
  }
  const counts: Record<string, number> = {};
  for (const { name, labels, value } of parseExposition(text)) {
    if (name !== REQUESTS) continue;
    const subject = labels.subject ?? '?';
    counts[subject] = (counts[subject] ?? 0) + value;
  }
  return counts;
}
