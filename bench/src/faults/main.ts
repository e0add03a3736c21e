import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { round } from '../stats.js';
import { ALL_FAULTS } from './faults.js';
import { faultTable, runFaultSuite, type Figures } from './suite.js';

// `npm run faults`: every fault of issue 13 against `npm start`, under the room load; loopback only,
// bounded in time (each fault's recovery wait and each push's reply are bounded) and in count.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const { values: flags } = parseArgs({
  options: {
    faults: { type: 'string', default: ALL_FAULTS.join(',') },
    users: { type: 'string', default: '100' },
    'room-size': { type: 'string', default: '5' },
    'act-every-ms': { type: 'string', default: '3000' },
    'reply-bound-ms': { type: 'string', default: '15000' },
    'recovery-bound-ms': { type: 'string', default: '120000' },
    'before-ms': { type: 'string', default: '3000' },
    'settle-ms': { type: 'string', default: '3000' },
    'no-retry': { type: 'boolean', default: false },
    /** Resend without idempotency keys (a resend is then a new command), as clients did before keys. */
    'no-idempotency-keys': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
    /** Print the table of a saved run's JSON and exit. */
    'table-from': { type: 'string' },
  },
});

if (flags['table-from']) {
  // The table of a saved run (its JSON), e.g. for the README.
  // Runs before the ghosts' column existed have no `ghosts.users`: counted from their episodes.
  const saved = JSON.parse(readFileSync(flags['table-from'], 'utf8')) as {
    results: Array<Omit<Figures, 'ghosts'> & { ghosts: Partial<Figures['ghosts']> }>;
  };
  const results: Figures[] = saved.results.map((f) => {
    const ghosts = f.episodes.filter((e) => e.kind === 'ghost' && e.seconds > 3);
    return {
      ...f,
      ghosts: {
        users: f.ghosts.users ?? new Set(ghosts.map((e) => e.subject)).size,
        episodes: f.ghosts.episodes ?? ghosts.length,
        longestSeconds: f.ghosts.longestSeconds ?? Math.max(0, ...ghosts.map((e) => e.seconds)),
      },
    };
  });
  process.stdout.write(`${faultTable(results)}\n`);
  process.exit(0);
}

// Ctrl-C: exit, and the exit hook stops the npm start this run started (see NpmStartRun.launch).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

const startedAt = new Date();
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    return 'unknown';
  }
})();
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
await mkdir(flags.out, { recursive: true });
const logFile = path.join(flags.out, `faults-${stamp}.log`);
const report = await runFaultSuite({
  root: ROOT,
  faults: flags.faults
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean),
  users: Number(flags.users),
  roomSize: Number(flags['room-size']),
  actEveryMs: Number(flags['act-every-ms']),
  replyBoundMs: Number(flags['reply-bound-ms']),
  recoveryBoundMs: Number(flags['recovery-bound-ms']),
  beforeMs: Number(flags['before-ms']),
  settleMs: Number(flags['settle-ms']),
  episodeThresholdMs: 3_000,
  retry: !flags['no-retry'],
  idempotencyKeys: !flags['no-idempotency-keys'],
  log: (line) => process.stdout.write(`${line}\n`),
  // npm start's own log (JSON lines) goes to a file beside the results, not the terminal.
  onStartLine: (line) => appendFileSync(logFile, `${line}\n`),
});

const machine = {
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? '?',
  memoryGiB: round(os.totalmem() / 2 ** 30, 1),
  node: process.version,
  loadAverage: os.loadavg().map((l) => round(l, 1)),
};
const table = faultTable(report.results);
const heading = `${startedAt.toISOString()} · commit ${commit} · ${machine.cores} cores ${machine.cpu} · ${machine.memoryGiB} GiB · Node ${machine.node} · ${report.users} users in ${report.projects} rooms`;
process.stdout.write(`\n${heading}\n\n${table}\n`);
const file = path.join(flags.out, `faults-${stamp}-${commit}.json`);
const json = JSON.stringify({ date: startedAt.toISOString(), commit, machine, ...report, table }, null, 2);
await writeFile(file, json);
await writeFile(path.join(flags.out, 'faults-latest.json'), json);
process.stdout.write(`\nwrote ${path.relative(ROOT, file)} (npm start's log: ${path.relative(ROOT, logFile)})\n`);
process.exit(0);
