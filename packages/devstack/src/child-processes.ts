import type { ChildProcess } from 'node:child_process';

/** Whether a child process has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has exited; immediately when it already has. */
export function exited(child: ChildProcess): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Stops a child: `signal` (SIGTERM by default), then SIGKILL when it has not exited after
 * `graceMs`. Resolves once it has exited.
 */
export async function stopChild(
  child: ChildProcess,
  opts: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return;
  const done = exited(child);
  child.kill(opts.signal ?? 'SIGTERM');
  const timer = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, opts.graceMs ?? 5_000);
  try {
    await done;
  } finally {
    clearTimeout(timer);
  }
}

const orphanGuards = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;

/**
 * Signals a child when this process exits without having stopped it (a thrown error, a test
 * runner that exits early), so no server outlives the process that started it. Unregisters
 * itself when the child exits.
 */
export function stopOnProcessExit(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  orphanGuards.set(child, signal);
  child.once('exit', () => orphanGuards.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [c, s] of orphanGuards) {
      if (!hasExited(c)) {
        try {
          c.kill(s);
        } catch {
          // already gone
        }
      }
    }
  });
}
