// What `npm start` (scripts/start.mjs) and `npm run cluster` (scripts/cluster.mjs) share: signal
// handling, stopping when npm goes away, installing and building unless `--no-build`, then running
// a devstack supervisor until it stops. Only the supervisor differs.
import { build, ensureDependencies, ROOT } from './bootstrap.mjs';

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * Runs the supervisor `create` makes from the devstack package (imported only after the build)
 * and the options every supervisor takes; exits with the supervisor's exit code.
 *
 * @param {string} command how people run it, for messages (`npm start`)
 * @param {(devstack: typeof import('@siteflow/devstack'), options: import('@siteflow/devstack').StackSupervisorOptions) => import('@siteflow/devstack').StackSupervisor} create
 */
export async function runStack(command, create) {
  /** @type {import('@siteflow/devstack').StackSupervisor | undefined} */
  let stack;
  let stopRequested = false;

  // A closed terminal (SIGHUP) makes writes to it fail; stopping must go on regardless.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);

  const report = (err) => console.error(`\n${command} failed: ${err instanceof Error ? err.message : String(err)}`);

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

  // `npm start` runs npm → sh → this script, and a SIGTERM to npm reaches only sh, which dies
  // without passing it on: left alone, this process and everything it runs would go on as orphans.
  // So under npm, losing the parent stops everything as a SIGTERM would.
  if (process.env.npm_lifecycle_event) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent && !stopRequested) onSignal('SIGTERM', `${command} (parent pid ${parent}) is gone`);
    }, 250).unref();
  }

  // `--no-build` skips installing and building (tests that built already; never `npm ci` under other runs).
  if (!process.argv.includes('--no-build')) {
    ensureDependencies();
    build();
  }

  // Only now do the workspace packages exist.
  const devstack = await import('@siteflow/devstack');
  try {
    stack = create(devstack, {
      root: ROOT,
      env: process.env,
      write: (text) => process.stdout.write(text),
      isTTY: Boolean(process.stdout.isTTY),
    });
  } catch (err) {
    report(err);
    process.exit(1);
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
}
