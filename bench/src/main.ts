import { execFileSync, fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import { createTestDatabase, provisionInfra, startStack } from '@siteflow/testing';
import { runConnections, type ConnectionStep } from './connections.js';
import { baselineTarget, gatewayTarget, runFanout, type FanoutResult } from './fanout.js';
import { round } from './stats.js';
import { breakdownTable, TraceBreakdown, type Breakdown } from './breakdown.js';
import { fanoutChartPng } from './chart.js';
import { runLocks, type LocksResult } from './locks.js';
import { runRoom, type RoomResult } from './room.js';
import { createDemoMemberProjects, createProjects } from './users.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: flags } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'room,fanout,locks,connections' },
    /** One room: every joiner receives everyone's presence_state and every join is a diff to all (O(N²)). */
    watchers: { type: 'string', default: '100,1000,2000' },
    paced: { type: 'string', default: '50' },
    burst: { type: 'string', default: '200' },
    window: { type: 'string', default: '10' },
    'connection-steps': { type: 'string', default: '2000,5000,10000,15000,19000' },
    'per-worker': { type: 'string', default: '5000' },
    /** Sockets per room in the connections scenario (rooms in this product hold 20–500 people). */
    'connection-room-size': { type: 'string', default: '25' },
    'room-users': { type: 'string', default: '500' },
    'room-size': { type: 'string', default: '5' },
    'room-seconds': { type: 'string', default: '60' },
    'act-every-ms': { type: 'string', default: '3000' },
    'lock-rounds': { type: 'string', default: '100' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
    /** Write a V8 CPU profile of the gateway (node --cpu-prof) into this directory. */
    'profile-gateway': { type: 'string' },
    /** Tracing on (every process exports its spans to the bench), and the room scenario's chat messages broken down hop by hop. */
    breakdown: { type: 'boolean', default: false },
  },
});
/** Project ids of the connections scenario (the room scenario uses 2 … its project count + 1). */
const CONNECTION_PROJECTS_FROM = 100_000;
const list = (s: string) =>
  s
    .split(',')
    .map((x) => Number(x.trim()))
    .filter((n) => Number.isFinite(n) && n > 0);
const scenarios = new Set(flags.scenarios.split(','));

const startedAt = new Date();
const infra = await provisionInfra({ log: (line) => process.stdout.write(`${line}\n`) });
const db = await createTestDatabase(infra.databaseUrl, 'sf_bench');
const breakdown = flags.breakdown ? await TraceBreakdown.start() : null;
const stack = await startStack({
  natsUrl: infra.natsUrl,
  databaseUrl: db.url,
  env: { LOG_LEVEL: 'warn', ...breakdown?.env },
  ...(flags['profile-gateway']
    ? { nodeArgs: { gateway: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(flags['profile-gateway'])}`] } }
    : {}),
});
// Creates projects (`documents.project.create`): on a NATS with infra/nats/auth.conf, NATS_URL names the admin user.
const nats = await connect(natsOptionsFromUrl(infra.natsUrl));
const tokens = await Promise.all(['alice', 'bob', 'carol'].map(async (u) => (await stack.devLogin(u)).token));
const baseline = fork(path.join(ROOT, 'bench', 'dist', 'baseline-server.js'), { env: { ...process.env, PORT: '0' } });
const baselinePort = await new Promise<number>((resolve) => baseline.once('message', (m: any) => resolve(m.port)));

const fanout: FanoutResult[] = [];
let connections: ConnectionStep[] = [];
let room: RoomResult | null = null;
let locks: LocksResult | null = null;
try {
  if (scenarios.has('room') || scenarios.has('locks')) {
    const size = Number(flags['room-size']);
    const projects = Math.ceil(Number(flags['room-users']) / size);
    process.stdout.write(`creating ${projects} projects of ${size}…\n`);
    const users = await createProjects(nats, stack.jwtSecret, projects, size);
    if (scenarios.has('room')) {
      process.stdout.write(`room: ${users.length} users acting every ~${flags['act-every-ms']} ms for ${flags['room-seconds']} s…\n`);
      room = await runRoom(stack.socketUrl, users, { seconds: Number(flags['room-seconds']), actEveryMs: Number(flags['act-every-ms']) });
    }
    if (scenarios.has('locks')) {
      process.stdout.write('locks…\n');
      locks = await runLocks(stack.socketUrl, users, { rounds: Number(flags['lock-rounds']) });
    }
  }
  if (scenarios.has('fanout')) {
    const opts = { pacedMessages: Number(flags.paced), burstMessages: Number(flags.burst), window: Number(flags.window) };
    for (const n of list(flags.watchers)) {
      process.stdout.write(`fan-out to ${n} watchers…\n`);
      fanout.push(await runFanout(gatewayTarget(stack.socketUrl, tokens, nats, stack.process('gateway').pid!), n, opts));
      fanout.push(await runFanout(await baselineTarget(`ws://127.0.0.1:${baselinePort}/socket`, baseline.pid!), n, opts));
    }
  }
  if (scenarios.has('connections')) {
    process.stdout.write('idle joined connections…\n');
    if (scenarios.size > 1) {
      // A fresh gateway: RSS per socket is measured from its baseline, not from the garbage of the
      // scenarios before (the fan-out leaves hundreds of MiB that the GC returns at its own pace).
      await stack.kill('gateway', 'SIGTERM');
      await stack.start('gateway');
    }
    const pid = stack.process('gateway').pid!;
    const steps = list(flags['connection-steps']);
    const rooms = Math.max(1, Math.ceil(Math.max(...steps) / Number(flags['connection-room-size'])));
    const projectIds = Array.from({ length: rooms }, (_, i) => CONNECTION_PROJECTS_FROM + i);
    process.stdout.write(`creating ${rooms} rooms of ${flags['connection-room-size']} sockets (alice, bob and carol are members)…\n`);
    await createDemoMemberProjects(nats, projectIds);
    connections = await runConnections({
      socketUrl: stack.socketUrl,
      tokens,
      projects: projectIds,
      gatewayPid: pid,
      steps,
      perWorker: Number(flags['per-worker']),
    });
  }
} finally {
  baseline.kill();
  await nats.close();
  await stack.stop();
  await db.drop();
  await infra.stop();
}
// After the stop: every process exported what it still held when it stopped.
const traced: Breakdown | null = breakdown ? breakdown.summary() : null;
await breakdown?.close();

const commit = (() => {
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
const report = { date: startedAt.toISOString(), commit, machine, settings: flags, room, locks, fanout, connections };

const lines: string[] = [];
const ms = (l: { p50: number; p95: number; p99: number }) => `${round(l.p50)} | ${round(l.p95)} | ${round(l.p99)}`;
if (room) {
  lines.push(
    `Room: ${room.users} users in ${room.projects} projects, ${round(room.seconds, 0)} s, ${room.pushes} pushes (${round(room.pushes / room.seconds, 0)}/s), ${room.deliveries} measured deliveries; errors: ${JSON.stringify(room.pushErrors)}`,
    '',
    '| room | p50 ms | p95 ms | p99 ms | samples |',
    '|---|---:|---:|---:|---:|',
    `| push → every receiver (chat + saves) | ${ms(room.deliveryLatency)} | ${room.deliveryLatency.count} |`,
    `| chat message → receivers | ${ms(room.chatDelivery)} | ${room.chatDelivery.count} |`,
    `| document save → receivers | ${ms(room.documentDelivery)} | ${room.documentDelivery.count} |`,
    `| push → reply (all pushes) | ${ms(room.replyLatency)} | ${room.replyLatency.count} |`,
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
    '| idle joined sockets | rooms | gateway RSS MiB | RSS per socket KiB | joins/s | join → reply p50 / p99 ms | join → presence_state p50 / p99 ms | failed |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const c of connections) {
    lines.push(
      `| ${c.connections} | ${c.rooms} | ${round(c.gatewayRssMiB, 0)} | ${round(c.rssPerConnectionKiB, 1)} | ${round(c.joinsPerSecond, 0)} | ${round(c.joinReply.p50, 0)} / ${round(c.joinReply.p99, 0)} | ${round(c.presenceSettle.p50, 0)} / ${round(c.presenceSettle.p99, 0)} | ${c.failed} |`,
    );
  }
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
