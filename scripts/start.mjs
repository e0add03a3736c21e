#!/usr/bin/env node
// `npm start`: the whole system on one machine, no Docker (DESIGN, "Running it"). Installs and
// builds what is missing, uses NATS_URL / DATABASE_URL when set and otherwise starts nats-server
// (JetStream in .data/nats) and embedded PostgreSQL (.data/pg) on free ports, then runs the four
// services and the gateway, restarting any that crashes, until Ctrl-C or SIGTERM.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, ensureDependencies, ROOT } from './bootstrap.mjs';

const started = Date.now();
const SERVICES = ['chat', 'documents', 'presence', 'checklist'];
const STOP_GRACE_MS = 10_000;
const DATA = path.join(ROOT, '.data');

ensureDependencies();
build();

// Only now do the workspace packages exist.
const devstack = await import('@siteflow/devstack');

const port = Number(process.env.PORT ?? 4000);
if (!(await devstack.isPortFree(port, '0.0.0.0'))) {
  fail(`port ${port} is already in use (another npm start?). Stop that, or run with PORT=<other port>.`);
}

mkdirSync(DATA, { recursive: true });
/** Servers this script started (stopped again on exit). */
const infra = [];
let natsUrl = process.env.NATS_URL;
let databaseUrl = process.env.DATABASE_URL;
const [nats, postgres] = await Promise.allSettled([
  natsUrl ? null : devstack.startNatsServer({ dataDir: path.join(DATA, 'nats') }),
  databaseUrl ? null : devstack.startEmbeddedPostgres({ dataDir: path.join(DATA, 'pg') }),
]);
for (const result of [nats, postgres]) if (result.status === 'fulfilled' && result.value) infra.push(result.value);
for (const result of [nats, postgres]) {
  if (result.status === 'rejected') {
    await stopInfra();
    fail(result.reason instanceof Error ? result.reason.message : String(result.reason));
  }
}
if (nats.status === 'fulfilled' && nats.value) {
  natsUrl = nats.value.url;
  log('start', `nats-server with JetStream on ${natsUrl} (data in .data/nats)`);
}
if (postgres.status === 'fulfilled' && postgres.value) {
  databaseUrl = postgres.value.url;
  log('start', `PostgreSQL on 127.0.0.1:${postgres.value.port} (data in .data/pg)`);
}

const env = {
  ...process.env,
  NATS_URL: natsUrl,
  DATABASE_URL: databaseUrl,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  SEED_DEMO: process.env.SEED_DEMO ?? 'true',
};
const gatewayEnv = {
  ...env,
  PORT: String(port),
  DEV_LOGIN: process.env.DEV_LOGIN ?? 'true',
  JWT_SECRET: process.env.JWT_SECRET ?? jwtSecret(),
  WEB_DIST: process.env.WEB_DIST ?? path.join(ROOT, 'web', 'dist'),
};

/** @type {Map<string, {child?: import('node:child_process').ChildProcess, restarts: number, startedAt: number, timer?: NodeJS.Timeout}>} */
const children = new Map();
let stopping = false;

for (const name of [...SERVICES, 'gateway']) {
  const main = path.join(ROOT, 'services', name, 'dist', 'main.js');
  if (!existsSync(main)) {
    await stopInfra();
    fail(`${path.relative(ROOT, main)} is missing after the build: is services/${name}/src/main.ts there?`);
  }
  children.set(name, { restarts: 0, startedAt: 0 });
  launch(name);
}

waitForGateway().then(
  () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`\nSiteflow Collab is running at http://localhost:${port}  (started in ${seconds} s; Ctrl-C stops it)\n`);
  },
  () => undefined,
);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => shutdown(signal));

function launch(name) {
  const state = children.get(name);
  const main = path.join(ROOT, 'services', name, 'dist', 'main.js');
  const child = spawn(process.execPath, [main], {
    cwd: path.join(ROOT, 'services', name),
    env: name === 'gateway' ? gatewayEnv : env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  state.child = child;
  state.startedAt = Date.now();
  pipeLines(child.stdout, process.stdout, name);
  pipeLines(child.stderr, process.stderr, name);
  child.on('error', (err) => log(name, `could not start: ${err.message}`));
  child.once('exit', (code, signal) => {
    if (stopping) return;
    if (code === 78) {
      // EX_CONFIG: the process refused its configuration; starting it again cannot help.
      log(name, 'exited because of its configuration (see above); stopping everything');
      process.exitCode = 1;
      void shutdown('configuration error');
      return;
    }
    // A process that ran for a while starts over with a short delay; one that keeps crashing
    // waits longer each time (1 s, 2 s, 4 s … 30 s).
    if (Date.now() - state.startedAt > 60_000) state.restarts = 0;
    const delay = Math.min(30_000, 1_000 * 2 ** state.restarts);
    state.restarts++;
    log(name, `exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!stopping) launch(name);
    }, delay);
  });
}

async function waitForGateway() {
  for (;;) {
    if (stopping) throw new Error('stopping');
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function shutdown(signal) {
  if (stopping) {
    // A second Ctrl-C: do not wait any longer.
    for (const { child } of children.values()) child?.kill('SIGKILL');
    process.exit(130);
  }
  stopping = true;
  log('start', `${signal}: stopping (Ctrl-C again to force)`);
  await Promise.all(
    [...children.values()].map(async (state) => {
      clearTimeout(state.timer);
      if (state.child) await devstack.stopChild(state.child, { signal: 'SIGTERM', graceMs: STOP_GRACE_MS });
    }),
  );
  await stopInfra();
  log('start', 'stopped');
  process.exit(process.exitCode ?? 0);
}

async function stopInfra() {
  await Promise.allSettled(infra.map((server) => server.stop()));
}

/** Kept in .data so sessions survive a restart; never committed (.data is ignored). */
function jwtSecret() {
  const file = path.join(DATA, 'jwt-secret');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved.length >= 32) return saved;
  }
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

const colors = { chat: 36, documents: 35, presence: 32, checklist: 33, gateway: 34, start: 90 };
function prefix(name) {
  const label = name.padEnd(9);
  return process.stdout.isTTY ? `\x1b[${colors[name] ?? 0}m${label}\x1b[0m | ` : `${label} | `;
}

function pipeLines(from, to, name) {
  let partial = '';
  from.setEncoding('utf8');
  from.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) to.write(`${prefix(name)}${line}\n`);
  });
  from.on('end', () => {
    if (partial) to.write(`${prefix(name)}${partial}\n`);
  });
}

function log(name, message) {
  console.log(`${prefix(name)}${message}`);
}

function fail(message) {
  console.error(`\nnpm start failed: ${message}`);
  process.exit(1);
}
