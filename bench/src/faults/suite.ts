import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import { NpmStartRun } from '@siteflow/testing';
import pg from 'pg';
import { round } from '../stats.js';
import { createProjects } from '../users.js';
import { faultNamed, type Fault } from './faults.js';
import { FaultLoad, type Episode, type Gap } from './load.js';

export interface SuiteOptions {
  root: string;
  faults: string[];
  users: number;
  roomSize: number;
  actEveryMs: number;
  /** A push unanswered this long counts as unanswered. */
  replyBoundMs: number;
  /** A fault not recovered from within this is reported as not recovered (and the suite goes on). */
  recoveryBoundMs: number;
  /** Load before each fault, and after its recovery before measuring. */
  beforeMs: number;
  settleMs: number;
  /** Shown offline or a ghost for longer than this counts (one presence refresh interval). */
  episodeThresholdMs: number;
  retry: boolean;
  /** Every write carries an idempotency key, and a resend the same one. */
  idempotencyKeys: boolean;
  log(line: string): void;
  onStartLine?: (line: string) => void;
}

export interface Figures {
  fault: string;
  describe: string;
  seconds: number;
  pushes: { sent: number; acknowledged: number; errors: Record<string, number>; unanswered: number; cutByClose: number; retries: number };
  /** Acknowledged writes (chat messages, checked items, saves) missing from the event store. */
  lost: number;
  verifiedWrites: number;
  /** Writes stored more than once (a chat message sent again after an unacknowledged first try). */
  duplicatesStored: number;
  /** Messages a client received twice (the same id, or the same text under another id). */
  duplicatesReceived: number;
  versionGaps: number;
  /** Each gap counted in `versionGaps`, with the missing version's writer and how its push was answered. */
  gaps: Array<
    Gap & { marker: string | undefined; writes: Array<{ client: number; session: number; event: string; status: string; retry: boolean }> }
  >;
  offlineWhileConnected: { users: number; episodes: number; longestSeconds: number };
  locksLost: number;
  /** Users shown online with more connections than they have (a closed one still shown), by how many observers, for how long. */
  ghosts: { users: number; episodes: number; longestSeconds: number };
  /** From the end of the fault to the first ok push of each kind sent after it, with presence and locks settled. */
  recoverySeconds: number | null;
  maxDeliverySeconds: number;
  notes: string[];
  /** Every episode that began in the window, short ones too: seconds after the fault's end, and how long. */
  episodes: Array<{ kind: string; observer: number; subject: number; atSeconds: number; seconds: number }>;
  lockLosses: Array<{ client: number; documentId: number; atSeconds: number; why: string }>;
}

export interface SuiteReport {
  settings: Omit<SuiteOptions, 'log' | 'onStartLine' | 'root'>;
  users: number;
  projects: number;
  results: Figures[];
}

/** What the event store holds for the run's projects, as the measure needs it. */
interface Stored {
  chat: Map<string, { version: number; projectId: number }>;
  chatVersions: Map<number, number[]>;
  /** `project:version` → the message's marker. */
  chatMarkers: Map<string, string | undefined>;
  saves: Map<string, string | undefined>;
  toggles: Set<string>;
  markerCounts: Map<string, number>;
}

const markerOfText = (text: string | null | undefined) => (text ? /#(\w+)\s*$/.exec(text)?.[1] : undefined);

async function readStore(databaseUrl: string, projects: number[]): Promise<Stored> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
    application_name: 'fault-suite check',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const chat = await client.query<{ id: string; text: string; version: number; project_id: string }>(
      `SELECT data->>'message_id' AS id, data->>'text' AS text, version, project_id FROM chat.events WHERE type = 'MessagePosted' AND project_id = ANY($1)`,
      [projects],
    );
    const saves = await client.query<{ document_id: number; version: number; content: string }>(
      `SELECT (data->>'document_id')::int AS document_id, (data->>'version')::int AS version, data->>'content' AS content FROM documents.events WHERE type = 'DocumentSaved' AND project_id = ANY($1)`,
      [projects],
    );
    const toggles = await client.query<{ project_id: string; item_id: number; user_id: number; toggled_at: string }>(
      `SELECT project_id, (data->>'item_id')::int AS item_id, (data->>'user_id')::int AS user_id, data->>'toggled_at' AS toggled_at FROM checklist.events WHERE type = 'ItemToggled' AND (data->>'checked')::boolean AND project_id = ANY($1)`,
      [projects],
    );
    const stored: Stored = {
      chat: new Map(),
      chatVersions: new Map(),
      chatMarkers: new Map(),
      saves: new Map(),
      toggles: new Set(),
      markerCounts: new Map(),
    };
    const count = (marker: string | undefined) => marker && stored.markerCounts.set(marker, (stored.markerCounts.get(marker) ?? 0) + 1);
    for (const r of chat.rows) {
      const projectId = Number(r.project_id);
      stored.chat.set(r.id, { version: r.version, projectId });
      stored.chatVersions.set(projectId, [...(stored.chatVersions.get(projectId) ?? []), r.version]);
      stored.chatMarkers.set(`${projectId}:${r.version}`, markerOfText(r.text));
      count(markerOfText(r.text));
    }
    for (const r of saves.rows) {
      stored.saves.set(`${r.document_id}:${r.version}`, markerOfText(r.content));
      count(markerOfText(r.content));
    }
    for (const r of toggles.rows) stored.toggles.add(`${r.project_id}:${r.item_id}:${r.user_id}:${Date.parse(r.toggled_at)}`);
    return stored;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Chat messages a client did not receive in a join, between its snapshot and the last it received. */
function chatGaps(load: FaultLoad, stored: Stored): Gap[] {
  const own = new Set(load.pushes.filter((p) => p.event === 'chat:message' && p.status === 'ok').map((p) => String(p.response?.id)));
  const bySession = new Map<string, Set<number>>();
  for (const r of load.receipts) {
    const v = stored.chat.get(r.id)?.version;
    if (v === undefined) continue;
    const key = `${r.client}:${r.session}`;
    bySession.set(key, (bySession.get(key) ?? new Set()).add(v));
  }
  const gaps: Gap[] = [];
  for (const m of load.members) {
    const versions = stored.chatVersions.get(m.user.projectId) ?? [];
    const ownVersions = new Set(
      [...own].map((id) => stored.chat.get(id)).flatMap((x) => (x?.projectId === m.user.projectId ? [x.version] : [])),
    );
    for (const [session, ids] of m.snapshotMessages) {
      const seen = bySession.get(`${m.index}:${session}`);
      if (!seen) continue;
      const base = Math.max(0, ...ids.map((id) => stored.chat.get(id)?.version ?? 0));
      const top = Math.max(...seen);
      for (const version of versions)
        if (version > base && version < top && !seen.has(version) && !ownVersions.has(version))
          gaps.push({ kind: 'chat', client: m.index, session, version });
    }
  }
  return gaps;
}

/** A gap with what the event store and the pushes say about the missing version: its marker, who wrote it, how that push was answered. */
function describeGap(load: FaultLoad, stored: Stored, gap: Gap) {
  const projectId = load.members[gap.client]?.user.projectId;
  const marker =
    gap.kind === 'chat' ? stored.chatMarkers.get(`${projectId}:${gap.version}`) : stored.saves.get(`${gap.documentId}:${gap.version}`);
  const writes = marker === undefined ? [] : load.pushes.filter((p) => p.marker === marker && p.event !== 'chat:typing');
  return {
    ...gap,
    marker,
    writes: writes.map((p) => ({ client: p.client, session: p.session, event: p.event, status: p.code ?? p.status, retry: p.retry })),
  };
}

const gapKey = (g: Gap) => `${g.kind}:${g.client}:${g.session}:${g.documentId ?? ''}:${g.version}`;

function episodeFigures(episodes: Episode[], kind: Episode['kind'], from: number, to: number, thresholdMs: number, now: number) {
  const long = episodes.filter((e) => e.kind === kind && e.start >= from && e.start < to && (e.end ?? now) - e.start > thresholdMs);
  return {
    episodes: long.length,
    subjects: new Set(long.map((e) => e.subject)).size,
    longestSeconds: round(Math.max(0, ...long.map((e) => ((e.end ?? now) - e.start) / 1000)), 1),
  };
}

export async function runFaultSuite(opts: SuiteOptions): Promise<SuiteReport> {
  const faults: Fault[] = opts.faults.map(faultNamed);
  // Loopback only; warnings and errors only (a fault run is long). Its HS256 key is the one npm start generates (run.jwtSecret).
  const run = await NpmStartRun.launch({
    root: opts.root,
    env: { HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    ...(opts.onStartLine ? { onLine: opts.onStartLine } : {}),
  });
  let load: FaultLoad | undefined;
  try {
    await run.waitUntilReady(180_000);
    const stack = run.stack();
    opts.log(
      `npm start ready on :${run.port} (data in ${run.dataDir}); creating ${Math.ceil(opts.users / opts.roomSize)} rooms of ${opts.roomSize}…`,
    );
    const nats = await connect(natsOptionsFromUrl(stack.natsUrl));
    const users = await createProjects(nats, run.jwtSecret, Math.ceil(opts.users / opts.roomSize), opts.roomSize);
    await nats.close();

    const live = new FaultLoad({
      socketUrl: run.socketUrl,
      users,
      actEveryMs: opts.actEveryMs,
      replyBoundMs: opts.replyBoundMs,
      retry: opts.retry,
      idempotencyKeys: opts.idempotencyKeys,
    });
    // `load` is for the cleanup in `finally`; `live` for the closures below.
    load = live;
    await live.start(120_000);
    opts.log(`${users.length} members joined, acting every ~${opts.actEveryMs} ms`);

    const results: Figures[] = [];
    const gapsCounted = new Set<string>();
    let windowStart = performance.now();
    const receivedBefore = new Map<number, { ids: Set<string>; markers: Map<string, string> }>();
    let receiptsCounted = 0;
    let duplicatesReceivedTotal = 0;
    for (const fault of faults) {
      await sleep(opts.beforeMs);
      opts.log(`${fault.name}: ${fault.describe}…`);
      const injectedAt = performance.now();
      let injected: { endedAt: number; notes: string[] };
      try {
        injected = await fault.inject(run);
      } catch (err) {
        injected = { endedAt: performance.now(), notes: [`injection failed: ${err instanceof Error ? err.message : String(err)}`] };
      }
      // Recovered: a push of each kind sent after the fault was acknowledged, and presence and locks are as they are.
      let recoveredAt: number | null = null;
      const kinds = ['chat:', 'checklist:', 'document:'];
      const deadline = injected.endedAt + opts.recoveryBoundMs;
      while (performance.now() < deadline) {
        const firstOk = kinds.map(
          (k) => live.pushes.find((p) => p.sentAt >= injected.endedAt && p.event.startsWith(k) && p.status === 'ok')?.answeredAt,
        );
        if (firstOk.every((t) => t !== undefined) && live.settled()) {
          recoveredAt = Math.max(performance.now() - 125, ...firstOk);
          break;
        }
        await sleep(250);
      }
      if (recoveredAt === null) {
        const missing = kinds.filter(
          (k) => !live.pushes.some((p) => p.sentAt >= injected.endedAt && p.event.startsWith(k) && p.status === 'ok'),
        );
        injected.notes.push(
          `not recovered within ${opts.recoveryBoundMs / 1000} s: ${missing.length ? `no ok reply to ${missing.join(', ')}; ` : ''}${load.whyUnsettled() || 'settled at last'}`,
        );
      }
      await sleep(opts.settleMs);
      const windowEnd = performance.now();
      // Every push of the window has its answer (or its bound) before anything is counted.
      const answeredBy = performance.now() + opts.replyBoundMs + 2_000;
      while (load.pushes.some((p) => p.sentAt < windowEnd && p.status === 'pending') && performance.now() < answeredBy) await sleep(100);

      const stored = await readStore(run.stack().databaseUrl, load.projects);
      const pushes = load.pushes.filter((p) => p.sentAt >= windowStart && p.sentAt < windowEnd);
      const errors: Record<string, number> = {};
      for (const p of pushes) {
        const code = p.code ?? 'error';
        if (p.status === 'error') errors[code] = (errors[code] ?? 0) + 1;
      }
      let lost = 0;
      let verified = 0;
      for (const p of pushes) {
        if (p.status !== 'ok') continue;
        const member = load.members[p.client];
        if (!member) continue;
        if (p.event === 'chat:message') {
          verified++;
          if (!stored.chat.has(String(p.response?.id))) lost++;
        } else if (p.event === 'document:save' && p.response?.saved !== false) {
          verified++;
          if (stored.saves.get(`${p.response?.document_id}:${p.response?.version}`) !== p.marker) lost++;
        } else if (p.event === 'checklist:toggle' && p.response?.item?.checked) {
          // Unchecking leaves nothing to identify the event by; checking names who and when.
          verified++;
          const item = p.response.item;
          if (!stored.toggles.has(`${member.user.projectId}:${item.id}:${item.checked_by}:${Date.parse(item.checked_at)}`)) lost++;
        }
      }
      const markers = new Set(pushes.flatMap((p) => (p.marker && !p.retry ? [p.marker] : [])));
      let duplicatesStored = 0;
      for (const marker of markers) duplicatesStored += Math.max(0, (stored.markerCounts.get(marker) ?? 0) - 1);

      // Received twice by one client: the same id, or the same text (marker) under another id.
      const now = performance.now();
      for (let r = load.receipts[receiptsCounted]; r && r.at < windowEnd; r = load.receipts[++receiptsCounted]) {
        const seen = receivedBefore.get(r.client) ?? { ids: new Set<string>(), markers: new Map<string, string>() };
        receivedBefore.set(r.client, seen);
        if (seen.ids.has(r.id) || (r.marker && seen.markers.has(r.marker) && seen.markers.get(r.marker) !== r.id))
          duplicatesReceivedTotal++;
        seen.ids.add(r.id);
        if (r.marker) seen.markers.set(r.marker, r.id);
      }
      const duplicatesReceived = duplicatesReceivedTotal + load.documentDuplicates();
      const previousDuplicates = results.reduce((n, f) => n + f.duplicatesReceived, 0);

      const newGaps = [...chatGaps(load, stored), ...load.documentGaps()]
        .filter((g) => !gapsCounted.has(gapKey(g)))
        .map((g) => describeGap(live, stored, g));
      for (const g of newGaps) gapsCounted.add(gapKey(g));
      // A save's `document:updated` skips the saver's own connection (its reply carries the
      // version). When that reply was an error although the save was stored, the saver never sees
      // the version: not a broadcast it missed, so not a gap; the notes count them.
      const ownSaves = newGaps.filter((g) => g.kind === 'document' && g.writes.some((w) => w.client === g.client));
      if (ownSaves.length)
        injected.notes.push(
          `${ownSaves.length} document versions not shown to their own saver (the save was answered ${[...new Set(ownSaves.flatMap((g) => g.writes.map((w) => w.status)))].join('/')} but stored)`,
        );
      const offline = episodeFigures(load.episodes, 'offline', windowStart, windowEnd, opts.episodeThresholdMs, now);
      const ghosts = episodeFigures(load.episodes, 'ghost', windowStart, windowEnd, opts.episodeThresholdMs, now);
      // From a write's first push to each receipt of it in this window.
      const deliveryMs = load.receipts.flatMap((r) => {
        const first = r.marker === undefined ? undefined : live.firstSent.get(r.marker);
        return r.at >= windowStart && r.at < windowEnd && first !== undefined ? [r.at - first] : [];
      });
      const figures: Figures = {
        fault: fault.name,
        describe: fault.describe,
        seconds: round((windowEnd - windowStart) / 1000, 1),
        pushes: {
          sent: pushes.length,
          acknowledged: pushes.filter((p) => p.status === 'ok').length,
          errors,
          unanswered: pushes.filter((p) => p.status === 'timeout' || p.status === 'pending').length,
          cutByClose: pushes.filter((p) => p.status === 'closed').length,
          retries: pushes.filter((p) => p.retry).length,
        },
        lost,
        verifiedWrites: verified,
        duplicatesStored,
        duplicatesReceived: duplicatesReceived - previousDuplicates,
        versionGaps: newGaps.length - ownSaves.length,
        gaps: newGaps,
        offlineWhileConnected: { users: offline.subjects, episodes: offline.episodes, longestSeconds: offline.longestSeconds },
        locksLost: load.lockLosses.filter((l) => l.at >= windowStart && l.at < windowEnd).length,
        ghosts: { users: ghosts.subjects, episodes: ghosts.episodes, longestSeconds: ghosts.longestSeconds },
        recoverySeconds: recoveredAt === null ? null : round(Math.max(0, recoveredAt - injected.endedAt) / 1000, 1),
        maxDeliverySeconds: round(Math.max(0, ...deliveryMs) / 1000, 1),
        notes: [...injected.notes, `fault lasted ${round((injected.endedAt - injectedAt) / 1000, 1)} s`],
        episodes: load.episodes
          .filter((e) => e.start >= windowStart && e.start < windowEnd)
          .map((e) => ({
            kind: e.kind,
            observer: e.observer,
            subject: e.subject,
            atSeconds: round((e.start - injected.endedAt) / 1000, 1),
            seconds: round(((e.end ?? now) - e.start) / 1000, 1),
          })),
        lockLosses: load.lockLosses
          .filter((l) => l.at >= windowStart && l.at < windowEnd)
          .map((l) => ({ client: l.client, documentId: l.documentId, atSeconds: round((l.at - injected.endedAt) / 1000, 1), why: l.why })),
      };
      results.push(figures);
      opts.log(`  ${summaryLine(figures)}`);
      windowStart = windowEnd;
    }
    return {
      settings: {
        faults: opts.faults,
        users: opts.users,
        roomSize: opts.roomSize,
        actEveryMs: opts.actEveryMs,
        replyBoundMs: opts.replyBoundMs,
        recoveryBoundMs: opts.recoveryBoundMs,
        beforeMs: opts.beforeMs,
        settleMs: opts.settleMs,
        episodeThresholdMs: opts.episodeThresholdMs,
        retry: opts.retry,
        idempotencyKeys: opts.idempotencyKeys,
      },
      users: users.length,
      projects: load.projects.length,
      results,
    };
  } finally {
    await load?.stop().catch(() => undefined);
    await run.stop();
  }
}

export function summaryLine(f: Figures): string {
  return `sent ${f.pushes.sent}, ok ${f.pushes.acknowledged}, errors ${JSON.stringify(f.pushes.errors)}, unanswered ${f.pushes.unanswered}, lost ${f.lost}, dup ${f.duplicatesStored}/${f.duplicatesReceived}, gaps ${f.versionGaps}, offline ${f.offlineWhileConnected.users}, locks lost ${f.locksLost}, ghosts ${f.ghosts.users}, recovered ${f.recoverySeconds ?? 'no'}`;
}

const errorText = (errors: Record<string, number>) =>
  Object.keys(errors).length === 0
    ? '0'
    : Object.entries(errors)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${n}`)
        .join(', ');

/** The README's table. */
export function faultTable(results: Figures[]): string {
  const lines = [
    '| fault | pushes sent | acked | errors by code | unanswered | cut by socket close | acked writes lost | duplicates stored / received | version gaps | connected users shown offline > 3 s (longest) | locks lost by connected holders | users ghosted > 3 s (longest) | longest push → broadcast | recovered in |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const f of results) {
    lines.push(
      `| ${f.describe} | ${f.pushes.sent} | ${f.pushes.acknowledged} | ${errorText(f.pushes.errors)} | ${f.pushes.unanswered} | ${f.pushes.cutByClose} | ${f.lost} | ${f.duplicatesStored} / ${f.duplicatesReceived} | ${f.versionGaps} | ${f.offlineWhileConnected.users}${f.offlineWhileConnected.users ? ` (${f.offlineWhileConnected.longestSeconds} s)` : ''} | ${f.locksLost} | ${f.ghosts.users}${f.ghosts.users ? ` (${f.ghosts.longestSeconds} s)` : ''} | ${f.maxDeliverySeconds} s | ${f.recoverySeconds === null ? '**not recovered**' : `${f.recoverySeconds} s`} |`,
    );
  }
  return lines.join('\n');
}
