import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OutputTail } from './output-tail.js';

/** Whether a child process has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has exited; immediately when it already has. */
export function exited(child: ChildProcess): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves with how the child ended (a child that could not be spawned ends with code null). */
export function exitOf(child: ChildProcess): Promise<ProcessExit> {
  if (hasExited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A spawn failure emits 'error' and no 'exit'.
    if (child.pid === undefined) child.once('error', () => resolve({ code: null, signal: null }));
  });
}

/** `SIGKILL` or `code 1`, for log lines. */
export function describeExit(exit: ProcessExit): string {
  return exit.signal ?? `code ${exit.code ?? '-'}`;
}

/**
 * Stops a child: `signal` (SIGTERM by default), then SIGKILL when it has not exited after
 * `graceMs`. Resolves once it has exited.
 */
export async function stopChild(child: ChildProcess, opts: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
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

/** Resolves once the child wrote `ready`; rejects when it exits first or after timeoutMs. */
export function waitForOutput(child: ChildProcess, tail: OutputTail, ready: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onOutput);
      child.stderr?.off('data', onOutput);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onOutput = () => {
      if (tail.includes(ready)) finish();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`exited before it was ready (code ${code ?? '-'}, signal ${signal ?? '-'})`));
    const onError = (err: Error) => finish(new Error(`could not be started: ${err.message}`));
    const timer = setTimeout(() => finish(new Error(`was not ready within ${timeoutMs} ms`)), timeoutMs);
    // Registered after the tail writers, so the tail already holds the chunk.
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/**
 * SIGSTOP `pid`, resolved once every thread of it has stopped (a frozen server in a fault test).
 * `kill` returns before that: the signal wakes one thread, which stops the others when it next
 * runs, so on a loaded machine another thread can still work meanwhile (nats-server's network
 * poller answered a PING 9 ms after `kill` returned, the readiness test saw it ready). Reads
 * `/proc/<pid>/task`; where there is none (not Linux), resolves after the signal.
 */
export async function freezeProcess(pid: number, timeoutMs = 10_000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = performance.now() + timeoutMs;
  while (!everyThreadStopped(pid)) {
    if (performance.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeoutMs} ms of SIGSTOP`);
    await sleep(2);
  }
}

/** Whether every thread of `pid` is stopped (state T or t in /proc); true where /proc is not. */
export function everyThreadStopped(pid: number): boolean {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  return threads.every((tid) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      return true; // the thread ended
    }
    // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    const state = stat[stat.lastIndexOf(')') + 2];
    return state === 'T' || state === 't';
  });
}
