#!/usr/bin/env node
// `npm run cluster`: the distributed shape on one machine, no Docker (README "Running in
// production"). What `npm start` does (scripts/start.mjs: install and build when missing, the same
// supervision, logs and .data/stack.json), with three nats-server nodes clustered over loopback
// routes (streams and the presence bucket with 3 replicas), two instances of each service and two
// gateways (4000 and 4001) serving the same rooms. Change the shape with NATS_NODES,
// SERVICE_INSTANCES, GATEWAY_PORTS and JETSTREAM_REPLICAS; NATS_URL (a node list) and
// DATABASE_URL name servers of your own instead. Ctrl-C stops the gateways, then the services,
// then NATS and Postgres.
//
// `--no-build` skips installing and building.
import { build, ensureDependencies, ROOT } from './bootstrap.mjs';

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** @type {import('@siteflow/devstack').ClusterSupervisor | undefined} */
let stack;
let stopRequested = false;

process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

function onSignal(signal, reason = signal) {
  if (!stack) process.exit(128 + SIGNAL_NUMBERS[signal]);
  if (stopRequested) {
    stack.kill();
    process.exit(130);
  }
  stopRequested = true;
  void stack.stop(reason).then((code) => process.exit(code));
}

for (const signal of Object.keys(SIGNAL_NUMBERS)) process.on(signal, () => onSignal(signal));

// Under npm, a SIGTERM to npm does not reach this process (see scripts/start.mjs): losing the
// parent stops everything.
if (process.env.npm_lifecycle_event) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && !stopRequested) onSignal('SIGTERM', `npm run cluster (parent pid ${parent}) is gone`);
  }, 250).unref();
}

if (!process.argv.includes('--no-build')) {
  ensureDependencies();
  build();
}

const { ClusterSupervisor } = await import('@siteflow/devstack');
try {
  stack = new ClusterSupervisor({
    root: ROOT,
    env: process.env,
    write: (text) => process.stdout.write(text),
    isTTY: Boolean(process.stdout.isTTY),
  });
} catch (err) {
  console.error(`\nnpm run cluster failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
void stack.done.then((code) => process.exit(code));
try {
  await stack.start();
} catch (err) {
  if (!stopRequested) {
    stopRequested = true;
    console.error(`\nnpm run cluster failed: ${err instanceof Error ? err.message : String(err)}`);
    await stack.stop('could not start', 1);
  }
}
