import type { ChildProcess } from 'node:child_process';

/** Element `i` of `xs`, round robin (`xs[i % xs.length]`); throws on an empty list. */
export function nth<T>(xs: readonly T[], i: number): T {
  const x = xs[i % xs.length];
  if (x === undefined) throw new Error('nth of an empty list');
  return x;
}

/** An environment variable a worker process needs (its parent sets it). */
export function requiredEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
}

/** The next message of a child process that `match` accepts (typed by the caller); rejects if the child exits first. */
export function nextMessage<T>(w: ChildProcess, match: (m: Record<string, unknown>) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => {
      w.off('message', onMessage);
      reject(new Error(`worker exited (${code ?? 'signal'})`));
    };
    const onMessage = (m: unknown) => {
      if (typeof m === 'object' && m !== null && match(m as Record<string, unknown>)) {
        w.off('message', onMessage);
        w.off('exit', onExit);
        resolve(m as T);
      }
    };
    w.on('message', onMessage);
    w.once('exit', onExit);
  });
}
