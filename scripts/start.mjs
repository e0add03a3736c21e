#!/usr/bin/env node
// `npm start`: the whole system on one machine, no Docker (docs/operations.md). Installs and
// builds what is missing, then hands over to the devstack's StackSupervisor: NATS_URL /
// DATABASE_URL when set (checked first), otherwise nats-server (JetStream in .data/nats) and
// embedded PostgreSQL (.data/pg), then the four services and the gateway; any of them that dies is
// started again, and .data/stack.json lists them all. Ctrl-C, SIGTERM or SIGHUP stops the gateway,
// then the services, then NATS and Postgres.
//
// `--no-build` skips installing and building (tests that built already; never `npm ci` under
// other runs).
import { build, ensureDependencies, ROOT } from './bootstrap.mjs';

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** @type {import('@siteflow/devstack').StackSupervisor | undefined} */
let stack;
let stopRequested = false;

// A closed terminal (SIGHUP) makes writes to it fail; stopping must go on regardless.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

function onSignal(signal, reason = signal) {
  if (!stack) process.exit(128 + SIGNAL_NUMBERS[signal]);
  if (stopRequested) {
    // A second signal: do not wait any longer.
    stack.kill();
    process.exit(130);
  }
  stopRequested = true;
  void stack.stop(reason).then((code) => process.exit(code));
}

// Installed before anything starts, so a signal at any point stops whatever has started.
for (const signal of Object.keys(SIGNAL_NUMBERS)) process.on(signal, () => onSignal(signal));

// `npm start` runs npm → sh → this script, and a SIGTERM to npm reaches only sh, which dies without
// passing it on: left alone, this process and everything it runs would go on as orphans. So under
// npm, losing the parent stops everything as a SIGTERM would.
if (process.env.npm_lifecycle_event) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && !stopRequested) onSignal('SIGTERM', `npm start (parent pid ${parent}) is gone`);
  }, 250).unref();
}

if (!process.argv.includes('--no-build')) {
  ensureDependencies();
  build();
}

// Only now do the workspace packages exist.
const { StackSupervisor } = await import('@siteflow/devstack');
try {
  stack = new StackSupervisor({
    root: ROOT,
    env: process.env,
    write: (text) => process.stdout.write(text),
    isTTY: Boolean(process.stdout.isTTY),
  });
} catch (err) {
  fail(err);
}
// Also when the stack stops by itself (a process refused its configuration).
void stack.done.then((code) => process.exit(code));
try {
  await stack.start();
} catch (err) {
  if (!stopRequested) {
    stopRequested = true;
    report(err);
    // Exits with 1 through `done` once what did start has stopped.
    await stack.stop('could not start', 1);
  }
}

function report(err) {
  console.error(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}`);
}

function fail(err) {
  report(err);
  process.exit(1);
}
