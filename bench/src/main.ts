import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { SERVICES } from '@siteflow/contracts';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import { freePort } from '@siteflow/devstack';
import { createTestDatabase, provisionInfra, startStack } from '@siteflow/testing';
import { runChatMembers, type ChatMembersResult } from './chatmembers.js';
import { runChurn, type ChurnResult } from './churn.js';
import { runConnections, type ConnectionStep } from './connections.js';
import { CpuMeter, cpuMsLine, pidsByCmdline, withChildren } from './cpu.js';
import { baselineTarget, gatewayTarget, runFanout, type FanoutResult } from './fanout.js';
import { round } from './stats.js';
import { breakdownTable, TraceBreakdown, type Breakdown } from './breakdown.js';
import { fanoutChartPng } from './chart.js';
import { gatewayHeapLine, gatewayHeapReport } from './gateway-heap.js';
import { runJoinStorm, type JoinStormResult, type MassCloseResult } from './joins.js';
import { runLocks, type LocksResult } from './locks.js';
import { PG_STATEMENTS_SETTINGS, StatementStats, statementsTable, type StatementsReport } from './pg-statements.js';
import { runRoom, type RoomResult } from './room.js';
import { startBrokeredFloors } from './brokered.js';
import { runRoomSize, type RoomSizeResult } from './roomsize.js';
import { runSaves, type SavesResult } from './saves.js';
import { runReconnectStorm, type StormResult } from './storm.js';
import { scrapeTransactionTotals, transactionsBetween, transactionsTable, type ServiceTransactions } from './transactions.js';
import { createDemoMemberProjects, createProjects, type BenchUser } from './users.js';
import { nextMessage } from './util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: flags } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'room,locks,roomsize,chatmembers,fanout,churn,joins,connections' },
    /**
     * The room scenario runs against each: the gateway (whole stack), the durable floor (insert,
     * then broadcast) and, when named, the brokered floors (`brokered`, `brokered-tx`: the same
     * path as the gateway's through a bare front, NATS and a bare service: brokered-floor.ts).
     */
    'room-targets': { type: 'string', default: 'gateway,floor' },
    /** One room: every joiner receives everyone's presence_state and every join is a diff to all (O(N²)). */
    watchers: { type: 'string', default: '100,1000,2000' },
    paced: { type: 'string', default: '50' },
    burst: { type: 'string', default: '200' },
    window: { type: 'string', default: '10' },
    'connection-steps': { type: 'string', default: '2000,5000,10000,15000,19000' },
    'per-worker': { type: 'string', default: '5000' },
    /** Sockets per room in the connections scenario (rooms in this product hold 20–500 people). */
    'connection-room-size': { type: 'string', default: '25' },
    /**
     * The gateway's V8 heap: `deployed` (the heap flags of infra/k8s/base/gateway.yaml, as in
     * production) or `host` (no flags: what Node picks for this machine's memory, ~4 GiB here).
     */
    'gateway-heap': { type: 'string', default: 'deployed' },
    'room-users': { type: 'string', default: '500' },
    'room-size': { type: 'string', default: '5' },
    'room-seconds': { type: 'string', default: '60' },
    'room-warmup-seconds': { type: 'string', default: '20' },
    'act-every-ms': { type: 'string', default: '3000' },
    'lock-rounds': { type: 'string', default: '100' },
    /** Join storm: sockets joining at once, spread round robin over rooms of --join-room-size. */
    'join-sockets': { type: 'string', default: '10000' },
    'join-room-size': { type: 'string', default: '25' },
    /** Reconnect storm (issue 17): sockets joined in rooms of --join-room-size whose gateway is killed (kill -9) and started again. */
    'storm-sockets': { type: 'string', default: '10000' },
    /** Chat post cost: project sizes (members) and posts in each. */
    'roomsize-members': { type: 'string', default: '5,500' },
    'roomsize-posts': { type: 'string', default: '200' },
    /** Chat post cost against members, rooms posted in by turns in blocks (issue 16): sizes, posts per room, posts per block. */
    'chatmembers-sizes': { type: 'string', default: '5,500' },
    'chatmembers-posts': { type: 'string', default: '200' },
    'chatmembers-block': { type: 'string', default: '20' },
    /** Large saves (not in the default set: `--scenarios saves`): saves of --saves-kib KiB, one at a time, watched by --saves-watchers members. */
    'saves-count': { type: 'string', default: '100' },
    'saves-kib': { type: 'string', default: '256' },
    'saves-watchers': { type: 'string', default: '4' },
    /** Churn soak: rooms, sockets holding each open, sockets joining and leaving over and over, duration. */
    'churn-rooms': { type: 'string', default: '50' },
    'churn-residents': { type: 'string', default: '2' },
    'churn-churners': { type: 'string', default: '40' },
    'churn-seconds': { type: 'string', default: '120' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
    /** Write a V8 CPU profile of the gateway (node --cpu-prof) into this directory. */
    'profile-gateway': { type: 'string' },
    /** Write a V8 CPU profile of every process of the stack (gateway and services) into this directory. */
    'profile-all': { type: 'string' },
    /** Node/V8 flags every process of the stack starts with (space-separated), after the gateway's heap flags: an experiment's switch. */
    'stack-node-args': { type: 'string', default: '' },
    /** Tracing on (every process exports its spans to the bench), and the room scenario's chat messages broken down hop by hop. */
    breakdown: { type: 'boolean', default: false },
    /** Postgres statement statistics per scenario (pg_stat_statements loaded into the bench's own Postgres). */
    'pg-statements': { type: 'boolean', default: false },
  },
});
/** Project ids of the connections scenario (the room scenario uses 2 … its project count + 1). */
const CONNECTION_PROJECTS_FROM = 100_000;
const JOIN_PROJECTS_FROM = 120_000;
const CHURN_PROJECTS_FROM = 150_000;
const STORM_PROJECTS_FROM = 170_000;
const ROOMSIZE_PROJECTS_FROM = 50_000;
const ROOMSIZE_USERS_FROM = 200_000;
const CHATMEMBERS_PROJECTS_FROM = 60_000;
const CHATMEMBERS_USERS_FROM = 300_000;
const SAVES_PROJECTS_FROM = 70_000;
const SAVES_USERS_FROM = 400_000;
const list = (s: string) =>
  s
    .split(',')
    .map((x) => Number(x.trim()))
    .filter((n) => Number.isFinite(n) && n > 0);
const scenarios = new Set(flags.scenarios.split(','));

const startedAt = new Date();
const gatewayHeap = gatewayHeapReport(flags['gateway-heap']);
/** The gateway's heap flags first, then whatever else it is started with (profiling). */
const stackNodeArgs = flags['stack-node-args'].split(/\s+/).filter((arg) => arg !== '');
const withGatewayHeap = (nodeArgs: NonNullable<Parameters<typeof startStack>[0]['nodeArgs']>) => ({
  ...Object.fromEntries(
    (['chat', 'checklist', 'documents', 'presence'] as const).map((name) => [name, [...stackNodeArgs, ...(nodeArgs[name] ?? [])]]),
  ),
  gateway: [...gatewayHeap.nodeArgs, ...stackNodeArgs, ...(nodeArgs.gateway ?? [])],
});
const infra = await provisionInfra({
  log: (line) => process.stdout.write(`${line}\n`),
  // Its /varz counts the messages each measurement sent through the broker.
  natsMonitoring: true,
  ...(flags['pg-statements'] ? { postgresSettings: PG_STATEMENTS_SETTINGS } : {}),
});
const db = await createTestDatabase(infra.databaseUrl, 'sf_bench');
const statements = flags['pg-statements'] ? await StatementStats.open(db.url) : null;
/** Postgres sessions ever opened to the bench's database: a pool that closes and reopens connections shows here. */
const sessionsClient = new pg.Client({ connectionString: db.url });
await sessionsClient.connect();
const pgSessions = async (): Promise<number> => {
  const { rows } = await sessionsClient.query<{ sessions: string }>(
    'SELECT sessions FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]?.sessions ?? NaN);
};
const breakdown = flags.breakdown ? await TraceBreakdown.start() : null;
/** Each service's /metrics (its commands' and transactions' timing is read from them per measurement). */
const serviceMetricsPorts = Object.fromEntries(await Promise.all(SERVICES.map(async (name) => [name, await freePort()] as const)));
const serviceMetricsUrls = Object.fromEntries(
  Object.entries(serviceMetricsPorts).map(([name, port]) => [name, `http://127.0.0.1:${port}/metrics`]),
);
const stack = await startStack({
  natsUrl: infra.natsUrl,
  databaseUrl: db.url,
  env: { LOG_LEVEL: 'warn', ...breakdown?.env },
  processEnv: Object.fromEntries(Object.entries(serviceMetricsPorts).map(([name, port]) => [name, { METRICS_PORT: String(port) }])),
  // The machine is shared: a service may take minutes to boot while others run their suites.
  readyTimeoutMs: 300_000,
  nodeArgs: withGatewayHeap(
    flags['profile-all']
      ? Object.fromEntries(
          (['gateway', 'chat', 'checklist', 'documents', 'presence'] as const).map((name) => [
            name,
            ['--cpu-prof', `--cpu-prof-dir=${path.resolve(flags['profile-all'] ?? '', name)}`],
          ]),
        )
      : flags['profile-gateway']
        ? { gateway: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(flags['profile-gateway'])}`] }
        : {},
  ),
});
// Creates projects (`documents.project.create`): on a NATS with infra/nats/auth.conf, NATS_URL names the admin user.
const nats = await connect(natsOptionsFromUrl(infra.natsUrl));
const tokens = await Promise.all(['alice', 'bob', 'carol'].map(async (u) => (await stack.devLogin(u)).token));
const baseline = fork(path.join(ROOT, 'bench', 'dist', 'baseline-server.js'), { env: { ...process.env, PORT: '0' } });
const portFrom = (child: ChildProcess) => nextMessage<{ port: number }>(child, (m) => typeof m.port === 'number').then((m) => m.port);
const baselinePort = await portFrom(baseline);
const floor = fork(path.join(ROOT, 'bench', 'dist', 'floor-server.js'), { env: { ...process.env, PORT: '0', DATABASE_URL: db.url } });
const floorPort = await portFrom(floor);
// The brokered floors, only when the room runs against them: one service, a front for each shape.
const brokered = flags['room-targets'].split(',').some((t) => t.startsWith('brokered'))
  ? await startBrokeredFloors(infra.natsUrl, db.url)
  : null;

// Per-process CPU: the stack's processes, Postgres (the postmaster of this run and its backends), NATS, this generator.
const portOf = (url: string) => new URL(url.replace(/^nats:/, 'http:')).port;
const pgPort = portOf(db.url);
const natsPort = portOf(infra.natsUrl.split(',')[0] ?? '');
/** A process's pid (a process not started has none: then nothing is measured for it). */
const pidOf = (p: { pid?: number | undefined }): number => p.pid ?? -1;
const processGroups: Record<string, () => number[]> = {
  ...Object.fromEntries(
    (['gateway', 'chat', 'checklist', 'documents', 'presence'] as const).map((name) => [name, () => [pidOf(stack.process(name))]]),
  ),
  postgres: () => pidsByCmdline(`-p ${pgPort} `).flatMap(withChildren),
  nats: () => pidsByCmdline(`-p ${natsPort} `),
  floor: () => [pidOf(floor)],
  ...(brokered ? { brokered: () => brokered.pids() } : {}),
  generator: () => [process.pid],
};
const load = () => os.loadavg().map((l) => round(l, 2));
/** Messages the NATS server has taken in and sent out so far (its /varz); null without a monitoring endpoint. */
const natsMessages = async (): Promise<{ in: number; out: number } | null> => {
  if (!infra.natsMonitoringUrl) return null;
  try {
    const v = (await (await fetch(`${infra.natsMonitoringUrl}/varz`, { signal: AbortSignal.timeout(5_000) })).json()) as {
      in_msgs: number;
      out_msgs: number;
    };
    return { in: v.in_msgs, out: v.out_msgs };
  } catch (err) {
    process.stderr.write(`nats /varz: ${String(err)}\n`);
    return null;
  }
};
/**
 * Runs a scenario, recording the load average before and after and the CPU each process group spent
 * (and, with --pg-statements, what Postgres ran). From the start, or, with `deferred`, from when the
 * scenario calls `begin` (the room, after its warm-up) to its end.
 */
async function measured<T>(
  run: (begin: () => Promise<void>) => Promise<T>,
  opts: { deferred?: boolean } = {},
): Promise<Measured & { result: T }> {
  const meter = new CpuMeter(processGroups);
  /** What `begin` saw; null until it ran. */
  let before: Began | null = null;
  const begin = async () => {
    if (before) return;
    const loadBefore = load();
    await statements?.reset();
    before = {
      load: loadBefore,
      sessions: await pgSessions(),
      transactions: await scrapeTransactionTotals(serviceMetricsUrls),
      nats: await natsMessages(),
    };
    meter.start();
  };
  if (!opts.deferred) await begin();
  const result = await run(begin);
  const began = before as Began | null;
  if (!began) throw new Error('a deferred measurement never began');
  const cpuSeconds = meter.stop();
  const pgSessionsOpened = (await pgSessions()) - began.sessions;
  const natsAfter = await natsMessages();
  return {
    result,
    cpuSeconds,
    pgSessionsOpened,
    transactions: transactionsBetween(began.transactions, await scrapeTransactionTotals(serviceMetricsUrls)),
    ...(began.nats && natsAfter ? { natsMessages: { in: natsAfter.in - began.nats.in, out: natsAfter.out - began.nats.out } } : {}),
    loadBefore: began.load,
    loadAfter: load(),
    ...(statements ? { statements: await statements.read() } : {}),
  };
}
/** What a measurement's `begin` saw. */
interface Began {
  load: number[];
  sessions: number;
  transactions: Awaited<ReturnType<typeof scrapeTransactionTotals>>;
  nats: { in: number; out: number } | null;
}
interface Measured {
  cpuSeconds: Record<string, number>;
  /** Each service's commands and store transactions meanwhile, where they went (its /metrics). */
  transactions: Record<string, ServiceTransactions>;
  /** Messages the NATS server took in and sent out meanwhile (its /varz). */
  natsMessages?: { in: number; out: number };
  /** Postgres sessions opened meanwhile (pools growing again, relays and followers reconnecting, this bench's own). */
  pgSessionsOpened: number;
  loadBefore: number[];
  loadAfter: number[];
  /** With --pg-statements: what Postgres ran in this database meanwhile. */
  statements?: StatementsReport;
}
const cpu: Record<string, Measured> = {};
const restartGateway = async () => {
  await stack.kill('gateway', 'SIGTERM');
  await stack.start('gateway');
};

const fanout: FanoutResult[] = [];
let connections: ConnectionStep[] = [];
const room: RoomResult[] = [];
/** A room run's name in `cpu`: `room <target>`, numbered from its second run (`--room-targets gateway,gateway`). */
const roomKey = (index: number): string => {
  const target = room[index]?.target ?? '?';
  const nth = room.slice(0, index + 1).filter((r) => r.target === target).length;
  return nth > 1 ? `room ${target} #${nth}` : `room ${target}`;
};
let locks: LocksResult | null = null;
const roomSize: RoomSizeResult[] = [];
let chatMembers: ChatMembersResult[] = [];
let saves: SavesResult | null = null;
let churn: ChurnResult | null = null;
let joins: JoinStormResult | null = null;
let massClose: MassCloseResult | null = null;
let storm: StormResult | null = null;
let failure: string | null = null;
try {
  if (scenarios.has('room') || scenarios.has('locks')) {
    const size = Number(flags['room-size']);
    const projects = Math.ceil(Number(flags['room-users']) / size);
    process.stdout.write(`creating ${projects} projects of ${size}…\n`);
    const users = await createProjects(nats, stack.jwtSecret, projects, size);
    if (scenarios.has('room')) {
      for (const target of flags['room-targets'].split(',') as Array<RoomResult['target']>) {
        process.stdout.write(
          `room (${target}): ${users.length} users acting every ~${flags['act-every-ms']} ms for ${flags['room-warmup-seconds']} s of warm-up, then ${flags['room-seconds']} s measured…\n`,
        );
        const url =
          target === 'floor'
            ? `ws://127.0.0.1:${floorPort}/socket`
            : target === 'brokered' || target === 'brokered-tx'
              ? `ws://127.0.0.1:${brokered?.ports[target]}/socket`
              : stack.socketUrl;
        const m = await measured(
          (begin) =>
            runRoom(url, users, {
              seconds: Number(flags['room-seconds']),
              warmupSeconds: Number(flags['room-warmup-seconds']),
              actEveryMs: Number(flags['act-every-ms']),
              target,
              onMeasuring: begin,
            }),
          { deferred: true },
        );
        room.push(m.result);
        cpu[roomKey(room.length - 1)] = m;
      }
    }
    if (scenarios.has('locks')) {
      process.stdout.write('locks…\n');
      locks = await runLocks(stack.socketUrl, users, { rounds: Number(flags['lock-rounds']) });
    }
  }
  if (scenarios.has('roomsize')) {
    const sizes = list(flags['roomsize-members']);
    let firstUserId = ROOMSIZE_USERS_FROM;
    for (const [i, size] of sizes.entries()) {
      process.stdout.write(`chat post cost: a project of ${size} members, ${flags['roomsize-posts']} posts…\n`);
      const members = await createProjects(nats, stack.jwtSecret, 1, size, { firstProjectId: ROOMSIZE_PROJECTS_FROM + i, firstUserId });
      firstUserId += size;
      roomSize.push(await runRoomSize(stack.socketUrl, members, { posts: Number(flags['roomsize-posts']), cpu: processGroups }));
    }
  }
  if (scenarios.has('chatmembers')) {
    const sizes = list(flags['chatmembers-sizes']);
    const rooms: BenchUser[][] = [];
    let firstUserId = CHATMEMBERS_USERS_FROM;
    for (const [i, size] of sizes.entries()) {
      rooms.push(await createProjects(nats, stack.jwtSecret, 1, size, { firstProjectId: CHATMEMBERS_PROJECTS_FROM + i, firstUserId }));
      firstUserId += size;
    }
    process.stdout.write(`chat members: rooms of ${sizes.join(', ')} members, ${flags['chatmembers-posts']} posts each in turns…\n`);
    const m = await measured(() =>
      runChatMembers(stack.socketUrl, db.url, rooms, {
        posts: Number(flags['chatmembers-posts']),
        block: Number(flags['chatmembers-block']),
        cpu: processGroups,
      }),
    );
    chatMembers = m.result;
    cpu.chatmembers = m;
  }
  if (scenarios.has('saves')) {
    const members = await createProjects(nats, stack.jwtSecret, 1, 1 + Number(flags['saves-watchers']), {
      firstProjectId: SAVES_PROJECTS_FROM,
      firstUserId: SAVES_USERS_FROM,
    });
    process.stdout.write(`saves: ${flags['saves-count']} saves of ${flags['saves-kib']} KiB…\n`);
    saves = await runSaves(stack.socketUrl, members, {
      saves: Number(flags['saves-count']),
      contentKiB: Number(flags['saves-kib']),
      cpu: processGroups,
      gatewayUrl: stack.gatewayUrl,
    });
  }
  if (scenarios.has('fanout')) {
    const opts = { pacedMessages: Number(flags.paced), burstMessages: Number(flags.burst), window: Number(flags.window) };
    for (const n of list(flags.watchers)) {
      process.stdout.write(`fan-out to ${n} watchers…\n`);
      fanout.push(await runFanout(gatewayTarget(stack.socketUrl, tokens, nats, pidOf(stack.process('gateway'))), n, opts));
      fanout.push(await runFanout(await baselineTarget(`ws://127.0.0.1:${baselinePort}/socket`, pidOf(baseline)), n, opts));
    }
  }
  if (scenarios.has('churn')) {
    const ids = Array.from({ length: Number(flags['churn-rooms']) }, (_, i) => CHURN_PROJECTS_FROM + i);
    await createDemoMemberProjects(nats, ids);
    process.stdout.write(
      `churn soak: ${flags['churn-churners']} sockets joining and leaving ${ids.length} rooms for ${flags['churn-seconds']} s…\n`,
    );
    if (scenarios.size > 1) await restartGateway();
    const m = await measured(() =>
      runChurn({
        socketUrl: stack.socketUrl,
        gatewayUrl: stack.gatewayUrl,
        gatewayPid: pidOf(stack.process('gateway')),
        tokens,
        projects: ids,
        residentsPerRoom: Number(flags['churn-residents']),
        churners: Number(flags['churn-churners']),
        seconds: Number(flags['churn-seconds']),
        sampleEverySeconds: 5,
      }),
    );
    churn = m.result;
    cpu.churn = m;
  }
  if (scenarios.has('joins')) {
    const sockets = Number(flags['join-sockets']);
    const ids = Array.from({ length: Math.ceil(sockets / Number(flags['join-room-size'])) }, (_, i) => JOIN_PROJECTS_FROM + i);
    process.stdout.write(`join storm: creating ${ids.length} rooms…\n`);
    await createDemoMemberProjects(nats, ids);
    // A gateway that just started, as after a restart: its users come back all at once.
    if (scenarios.size > 1) await restartGateway();
    process.stdout.write(`join storm: ${sockets} sockets in rooms of ${flags['join-room-size']}…\n`);
    const m = await measured(() =>
      runJoinStorm({
        socketUrl: stack.socketUrl,
        gatewayUrl: stack.gatewayUrl,
        tokens,
        projects: ids,
        sockets,
        perWorker: Number(flags['per-worker']),
      }),
    );
    joins = m.result.result;
    cpu.joins = m;
    process.stdout.write(`join storm: all ${joins.sockets} sockets close at once…\n`);
    massClose = await m.result.closeAll();
  }
  if (scenarios.has('storm')) {
    const sockets = Number(flags['storm-sockets']);
    const roomSize = Number(flags['join-room-size']);
    const ids = Array.from({ length: Math.ceil(sockets / roomSize) }, (_, i) => STORM_PROJECTS_FROM + i);
    process.stdout.write(`reconnect storm: creating ${ids.length} rooms, ${sockets} sockets in rooms of ${roomSize}…\n`);
    await createDemoMemberProjects(nats, ids);
    const m = await measured(() =>
      runReconnectStorm({
        socketUrl: stack.socketUrl,
        tokens,
        projects: ids,
        sockets,
        roomSize,
        perWorker: Number(flags['per-worker']),
        // kill -9 of the gateway's pid (the harness's handle waits for the exit), then a new one on the same port.
        kill: () => stack.kill('gateway', 'SIGKILL'),
        restart: () => stack.start('gateway'),
      }),
    );
    storm = m.result;
    cpu.storm = m;
  }
  if (scenarios.has('connections')) {
    process.stdout.write('idle joined connections…\n');
    if (scenarios.size > 1) {
      // A fresh gateway: RSS per socket is measured from its baseline, not from the garbage of the
      // scenarios before (the fan-out leaves hundreds of MiB that the GC returns at its own pace).
      await restartGateway();
    }
    const pid = pidOf(stack.process('gateway'));
    const steps = list(flags['connection-steps']);
    const rooms = Math.max(1, Math.ceil(Math.max(...steps) / Number(flags['connection-room-size'])));
    const projectIds = Array.from({ length: rooms }, (_, i) => CONNECTION_PROJECTS_FROM + i);
    process.stdout.write(`creating ${rooms} rooms of ${flags['connection-room-size']} sockets (alice, bob and carol are members)…\n`);
    await createDemoMemberProjects(nats, projectIds);
    const m = await measured(() =>
      runConnections({
        socketUrl: stack.socketUrl,
        tokens,
        projects: projectIds,
        gatewayPid: pid,
        gatewayHeap: gatewayHeap.heap,
        steps,
        perWorker: Number(flags['per-worker']),
      }),
    );
    connections = m.result;
    cpu.connections = m;
  }
} catch (err) {
  // The scenarios done so far are still reported.
  failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`scenario failed: ${failure}\n`);
} finally {
  baseline.kill();
  floor.kill();
  brokered?.kill();
  await nats.close();
  await statements?.close();
  await sessionsClient.end();
  await stack.stop();
  await db.drop();
  await infra.stop();
}
// After the stop: every process exported what it still held when it stopped.
const traced: Breakdown | null = breakdown ? breakdown.summary() : null;
await breakdown?.close();

const commit = (() => {
  // A run from an exported copy of the tree (not a git checkout) names its commit.
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    return 'unknown';
  }
})();
const machine = {
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? '?',
  memoryGiB: round(os.totalmem() / 2 ** 30, 1),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
const report = {
  date: startedAt.toISOString(),
  commit,
  machine,
  settings: flags,
  gatewayHeap,
  room,
  locks,
  roomSize,
  chatMembers,
  saves,
  fanout,
  churn,
  joins,
  massClose,
  storm,
  connections,
  cpu,
  failure,
};

const lines: string[] = [
  gatewayHeapLine(gatewayHeap),
  ...(stackNodeArgs.length > 0 ? ['', `Every process of the stack started with: ${stackNodeArgs.join(' ')}`] : []),
  '',
];
const ms = (l: { p50: number; p95: number; p99: number }) => `${round(l.p50)} | ${round(l.p95)} | ${round(l.p99)}`;
const cpuLine = (name: string) => {
  const c = cpu[name];
  if (!c) return '';
  const spent = Object.entries(c.cpuSeconds)
    .filter(([, s]) => s > 0)
    .map(([k, s]) => `${k} ${s}`)
    .join(', ');
  return `CPU seconds: ${spent}; Postgres sessions opened ${c.pgSessionsOpened}; load average ${c.loadBefore.join(' ')} → ${c.loadAfter.join(' ')}`;
};
/** The broker's messages over a measurement, and per push. */
const natsLine = (c: Measured | undefined, pushes: number) => {
  const m = c?.natsMessages;
  if (!m) return '';
  const per = (n: number) => (pushes > 0 ? ` (${round(n / pushes, 1)} a push)` : '');
  return `NATS messages: ${m.in} in${per(m.in)}, ${m.out} out${per(m.out)}`;
};
for (const [i, r] of room.entries()) {
  lines.push(
    `Room (${r.target}): ${r.users} users in ${r.projects} projects, ${round(r.seconds, 0)} s, ${r.pushes} pushes (${round(r.pushes / r.seconds, 0)}/s), ${r.deliveries} measured deliveries; errors: ${JSON.stringify(r.pushErrors)}`,
    cpuLine(roomKey(i)),
    natsLine(cpu[roomKey(i)], r.pushes),
    '',
    ...transactionsTable(`room (${r.target})`, cpu[roomKey(i)]?.transactions),
  );
}
if (room.length) {
  const floorRow = room.find((r) => r.target === 'floor');
  const ratio = (r: RoomResult, q: 'p50' | 'p95' | 'p99') =>
    floorRow && r.target !== 'floor' ? ` (${round(r.deliveryLatency[q] / floorRow.deliveryLatency[q], 1)}×)` : '';
  lines.push('| room: push → every receiver | p50 ms | p95 ms | p99 ms | samples |', '|---|---:|---:|---:|---:|');
  for (const r of room)
    lines.push(
      `| ${r.target} | ${round(r.deliveryLatency.p50)}${ratio(r, 'p50')} | ${round(r.deliveryLatency.p95)}${ratio(r, 'p95')} | ${round(r.deliveryLatency.p99)}${ratio(r, 'p99')} | ${r.deliveryLatency.count} |`,
    );
  lines.push('');
  // How far the gateway is from the least its own path costs (the brokered floors), where run.
  const gatewayRow = room.find((r) => r.target === 'gateway');
  for (const b of room.filter((r) => r.target.startsWith('brokered')))
    if (gatewayRow)
      lines.push(
        `gateway against ${b.target}: p50 ${round(gatewayRow.deliveryLatency.p50 / b.deliveryLatency.p50, 1)}×, p95 ${round(gatewayRow.deliveryLatency.p95 / b.deliveryLatency.p95, 1)}×, p99 ${round(gatewayRow.deliveryLatency.p99 / b.deliveryLatency.p99, 1)}×`,
        '',
      );
  for (const r of room.filter((x) => x.target === 'gateway'))
    lines.push(
      '| room (gateway) | p50 ms | p95 ms | p99 ms | samples |',
      '|---|---:|---:|---:|---:|',
      `| chat message → receivers | ${ms(r.chatDelivery)} | ${r.chatDelivery.count} |`,
      `| document save → receivers | ${ms(r.documentDelivery)} | ${r.documentDelivery.count} |`,
      `| push → reply (all pushes) | ${ms(r.replyLatency)} | ${r.replyLatency.count} |`,
      '',
    );
  // Warm-up shows here: the same measure by when the push was sent.
  for (const r of room)
    lines.push(
      `| room (${r.target}): push → every receiver, by when it was pushed | p50 ms | p95 ms | p99 ms | samples |`,
      '|---|---:|---:|---:|---:|',
      ...r.deliveryByWindow.map((w) => `| from ${w.fromSecond} s | ${ms(w)} | ${w.count} |`),
      '',
    );
}
if (locks) {
  lines.push(
    '| document:start_editing | p50 ms | p95 ms | p99 ms | samples |',
    '|---|---:|---:|---:|---:|',
    `| uncontended | ${ms(locks.uncontended)} | ${locks.uncontended.count} |`,
    `| ${locks.contenders} contenders at once | ${ms(locks.contended)} | ${locks.contended.count} |`,
    '',
    `Contended rounds with exactly one winner: ${locks.roundsWithOneWinner} of ${locks.rounds}.`,
    '',
  );
}
if (roomSize.length) {
  lines.push(
    '| chat post cost: members | posts | reply p50 / p99 ms | first / last fifth mean ms | delivery p50 / p99 ms | CPU ms per post |',
    '|---:|---:|---:|---:|---:|---|',
  );
  for (const r of roomSize)
    lines.push(
      `| ${r.members} | ${r.posts} | ${round(r.replyLatency.p50)} / ${round(r.replyLatency.p99)} | ${round(r.firstFifthMeanMs)} / ${round(r.lastFifthMeanMs)} | ${round(r.deliveryLatency.p50)} / ${round(r.deliveryLatency.p99)} | ${cpuMsLine(r.cpuMsPerPost)} |`,
    );
  lines.push('');
}
if (chatMembers.length) {
  const small = chatMembers[0];
  lines.push(
    cpuLine('chatmembers'),
    '',
    '| chat members | posts | reply p50 ms | reply p95 ms | reply p99 ms | delivery p50 / p99 ms | chat CPU ms/post | CPU ms per post | WAL bytes/post | badges (right) |',
    '|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  );
  for (const r of chatMembers) {
    const vs = (v: number, base: number | undefined) => (small && r !== small && base ? ` (${round(v / base, 2)}×)` : '');
    const chatCpu = r.cpuMsPerPost.chat ?? 0;
    lines.push(
      `| ${r.members} | ${r.posts} | ${round(r.replyLatency.p50)}${vs(r.replyLatency.p50, small?.replyLatency.p50)} | ${round(r.replyLatency.p95)} | ${round(r.replyLatency.p99)}${vs(r.replyLatency.p99, small?.replyLatency.p99)} | ${round(r.deliveryLatency.p50)} / ${round(r.deliveryLatency.p99)} | ${chatCpu}${vs(chatCpu, small?.cpuMsPerPost.chat)} | ${cpuMsLine(r.cpuMsPerPost)} | ${r.walBytesPerPost}${vs(r.walBytesPerPost, small?.walBytesPerPost)} | ${r.badges} (${r.badgesRight ? 'yes' : 'no'}) |`,
    );
  }
  lines.push('');
}
if (saves) {
  lines.push(
    `Saves: ${saves.saves} of ${saves.contentKiB} KiB, one at a time, ${saves.watchers} watchers`,
    '',
    '| saves | p50 ms | p95 ms | p99 ms | samples |',
    '|---|---:|---:|---:|---:|',
    `| push → reply | ${ms(saves.reply)} | ${saves.reply.count} |`,
    `| push → each watcher's document:updated | ${ms(saves.delivery)} | ${saves.delivery.count} |`,
    `| then document:heartbeat push → reply | ${ms(saves.heartbeatReply)} | ${saves.heartbeatReply.count} |`,
    '',
    `CPU ms a save: ${cpuMsLine(saves.cpuMsPerSave)}`,
    `CPU ms a heartbeat: ${cpuMsLine(saves.cpuMsPerHeartbeat)}`,
    ...(saves.copies
      ? [
          `The saves' events at the gateway: ${saves.copies.fastDelivered} from the fast copy, ${saves.copies.fastSkipped} fast copies skipped (the relay's delivered), ${saves.copies.duplicatesDropped} copies dropped as already had`,
        ]
      : []),
    '',
  );
}
if (fanout.length) {
  lines.push(
    '| watchers | target | p50 ms | p95 ms | p99 ms | deliveries/s | vs bare ws | CPU µs/delivery | lost |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of fanout) {
    const base = fanout.find((b) => b.target === 'baseline' && b.watchers === r.watchers);
    const ratio = base ? `${Math.round((r.deliveriesPerSecond / base.deliveriesPerSecond) * 100)} %` : '';
    lines.push(
      `| ${r.watchers} | ${r.target} | ${round(r.latency.p50)} | ${round(r.latency.p95)} | ${round(r.latency.p99)} | ${Math.round(r.deliveriesPerSecond)} | ${r.target === 'gateway' ? ratio : '100 %'} | ${round(r.cpuMicrosPerDelivery)} | ${r.lost} |`,
    );
  }
}
if (connections.length) {
  lines.push(
    '',
    cpuLine('connections'),
    '',
    '| idle joined sockets | gateway heap | rooms | gateway RSS MiB | RSS per socket KiB | joins/s | join → reply p50 / p99 ms | join → presence_state p50 / p99 ms | failed |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const c of connections) {
    lines.push(
      `| ${c.connections} | ${c.gatewayHeap} | ${c.rooms} | ${round(c.gatewayRssMiB, 0)} | ${round(c.rssPerConnectionKiB, 1)} | ${round(c.joinsPerSecond, 0)} | ${round(c.joinReply.p50, 0)} / ${round(c.joinReply.p99, 0)} | ${round(c.presenceSettle.p50, 0)} / ${round(c.presenceSettle.p99, 0)} | ${c.failed} |`,
    );
  }
}
if (churn) {
  const first = churn.samples[1] ?? churn.samples[0];
  const last = churn.samples.at(-1);
  lines.push(
    '',
    `Churn soak: ${churn.churners} sockets joining and leaving ${churn.rooms} rooms (held open by ${churn.residents} sockets) for ${churn.seconds} s: ${churn.joins} joins, ${churn.failed} failed`,
    cpuLine('churn'),
    '',
    '| churn | joins | gateway RSS MiB | heap used MiB |',
    '|---|---:|---:|---:|',
    `| after ${round(first?.t ?? 0, 0)} s | ${first?.joins} | ${round(first?.rssMiB ?? NaN, 0)} | ${round(first?.heapUsedMiB ?? NaN, 1)} |`,
    `| after ${round(last?.t ?? 0, 0)} s | ${last?.joins} | ${round(last?.rssMiB ?? NaN, 0)} | ${round(last?.heapUsedMiB ?? NaN, 1)} |`,
    `| growth per 10,000 joins (fit) | | ${round(churn.rssGrowthMiBPer10kJoins, 1)} | ${round(churn.heapGrowthMiBPer10kJoins, 1)} |`,
  );
}
if (joins) {
  lines.push(
    '',
    cpuLine('joins'),
    '',
    '| join storm: sockets | rooms | seconds | joins/s | join → reply p50 / p99 ms | admitted join → reply p50 / p99 ms | retried | presence settled s | failed | unsettled |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${joins.sockets} | ${joins.rooms} | ${round(joins.seconds, 1)} | ${round(joins.joinsPerSecond, 0)} | ${round(joins.replyLatency.p50, 0)} / ${round(joins.replyLatency.p99, 0)} | ${round(joins.admittedLatency.p50, 0)} / ${round(joins.admittedLatency.p99, 0)} | ${joins.retried} | ${round(joins.presenceSettledMs / 1000, 1)} | ${joins.failed} | ${joins.unsettled} |`,
    '',
    `Failed joins by code: ${JSON.stringify(joins.errors)}`,
    '',
    `Gateway's NATS requests per join: ${Object.entries(joins.requestsPerJoin)
      .filter(([, n]) => n > 0)
      .map(([subject, n]) => `${subject} ${round(n, 2)}`)
      .join(', ')}`,
  );
  if (massClose)
    lines.push(
      '',
      `Then all ${massClose.sockets} sockets closed at once: ${
        massClose.untrackedMs === null
          ? 'not all untracked within 120 s'
          : `every one untracked in ${round(massClose.untrackedMs / 1000, 1)} s`
      }; ${massClose.untracksFailed} untracks answered other than ok (retried).`,
    );
}
if (storm) {
  const s = (v: number) => round(v / 1000, 1);
  lines.push(
    '',
    cpuLine('storm'),
    '',
    '| reconnect storm: sockets | gateway back s | all reconnected s | all rejoined s | ghosts gone s | presence settled s | rejoin p50 / p99 s | rate_limited | retried | failed | unsettled |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${storm.sockets} | ${s(storm.gatewayBackMs)} | ${s(storm.killToAllReconnectedMs)} | ${s(storm.killToAllRejoinedMs)} | ${s(storm.killToGhostsGoneMs)} | ${s(storm.killToPresenceSettledMs)} | ${s(storm.rejoinLatency.p50)} / ${s(storm.rejoinLatency.p99)} | ${storm.rateLimited} | ${storm.retried} | ${storm.failed} | ${storm.unsettled} |`,
    '',
    `Storm: ghost leaves seen ${s(storm.ghostLeavesMs.first)}–${s(storm.ghostLeavesMs.last)} s after the kill; reconnect p50 / p99 ${s(storm.reconnectLatency.p50)} / ${s(storm.reconnectLatency.p99)} s, reconnected → rejoined p50 / p99 ${s(storm.reconnectToRejoin.p50)} / ${s(storm.reconnectToRejoin.p99)} s; ${storm.connectFailures} reconnect attempts refused; load generator ${storm.workerCpuSeconds} CPU s; join errors by code: ${JSON.stringify(storm.errors)}`,
  );
}
for (const [name, m] of Object.entries(cpu)) {
  if (!m.statements) continue;
  const pushes = room.find((_, i) => roomKey(i) === name)?.pushes;
  const per =
    pushes !== undefined ? { count: pushes, unit: 'push' } : name === 'joins' && joins ? { count: joins.sockets, unit: 'join' } : undefined;
  lines.push('', ...statementsTable(name, m.statements, per));
}
if (traced) {
  lines.push('', ...breakdownTable(traced));
  Object.assign(report, { breakdown: traced });
}
const table = lines.join('\n');
process.stdout.write(
  `\n${startedAt.toISOString()} · commit ${commit} · ${machine.cores} cores ${machine.cpu} · ${machine.memoryGiB} GiB · Node ${machine.node}\n\n${table}\n`,
);
await mkdir(flags.out, { recursive: true });
const file = path.join(flags.out, `${startedAt.toISOString().replace(/[:.]/g, '-')}-${commit}.json`);
await writeFile(file, JSON.stringify({ ...report, table }, null, 2));
await writeFile(path.join(flags.out, 'latest.json'), JSON.stringify({ ...report, table }, null, 2));
if (fanout.length) {
  const png = await fanoutChartPng(fanout, `Fan-out latency · ${machine.cores} cores · ${commit}`);
  await writeFile(file.replace(/\.json$/, '-fanout.png'), png);
  await writeFile(path.join(flags.out, 'latest-fanout.png'), png);
}
process.stdout.write(`\nwrote ${path.relative(ROOT, file)}\n`);
process.exit(0);
