import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { everyThreadStopped, freezeProcess, hasExited, stopChild } from './child-processes.js';

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.pid && !hasExited(child)) process.kill(child.pid, 'SIGCONT');
    await stopChild(child, { signal: 'SIGKILL' });
  }
});

/** A Node process with a worker thread spinning on a core: several threads, one of them always busy. */
function spawnBusyThreads(): ChildProcess {
  const child = spawn(
    process.execPath,
    ['-e', "new (require('node:worker_threads').Worker)('for (;;) {}', { eval: true }); setInterval(() => {}, 1000); console.log('up')"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return child;
}

describe.runIf(process.platform === 'linux')('freezeProcess', () => {
  it('resolves only once every thread of the process is stopped, and they all run again after SIGCONT', async () => {
    const child = spawnBusyThreads();
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    const pid = child.pid!;
    expect(readdirSync(`/proc/${pid}/task`).length).toBeGreaterThan(2);
    expect(everyThreadStopped(pid)).toBe(false);

    await freezeProcess(pid);
    expect(everyThreadStopped(pid)).toBe(true);

    process.kill(pid, 'SIGCONT');
    await expect.poll(() => everyThreadStopped(pid)).toBe(false);
  });

  it('fails with the reason when there is no such process', async () => {
    const child = spawnBusyThreads();
    await stopChild(child, { signal: 'SIGKILL' });
    await expect(freezeProcess(child.pid!)).rejects.toMatchObject({ code: 'ESRCH' });
  });
});
