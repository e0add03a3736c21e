import { describe, expect, it, vi } from 'vitest';
import type { ProcessExit } from './child-processes.js';
import { restartDelay, Supervisor, type RunningProcess } from './supervisor.js';

/** A process the test ends by hand. */
class FakeProcess implements RunningProcess {
  stopped = false;
  private end!: (exit: ProcessExit) => void;
  readonly exited = new Promise<ProcessExit>((resolve) => (this.end = resolve));
  constructor(readonly pid: number) {}
  die(exit: ProcessExit = { code: null, signal: 'SIGKILL' }): void {
    this.end(exit);
  }
  stop(): Promise<void> {
    this.stopped = true;
    this.end({ code: 0, signal: null });
    return Promise.resolve();
  }
}

function harness(opts: { failStarts?: number; fatalCode?: number } = {}) {
  const started: FakeProcess[] = [];
  const logs: string[] = [];
  const fatal: string[] = [];
  let failures = opts.failStarts ?? 0;
  let nextPid = 100;
  const supervisor = new Supervisor<FakeProcess>({
    name: 'nats',
    start: () => {
      // The first start always works; restarts fail `failStarts` times.
      if (started.length > 0 && failures > 0) {
        failures--;
        return Promise.reject(new Error('port still in use'));
      }
      const p = new FakeProcess(nextPid++);
      started.push(p);
      return Promise.resolve(p);
    },
    log: (level, message) => logs.push(`${level}: ${message}`),
    describe: () => 'data kept',
    fatal: (exit) => (exit.code === opts.fatalCode ? 'bad configuration' : undefined),
    onFatal: (reason) => fatal.push(reason),
    backoff: { initialMs: 5, maxMs: 40, resetAfterMs: 60_000 },
  });
  return { supervisor, started, logs, fatal };
}

describe('restartDelay', () => {
  it('doubles from the first delay up to the cap', () => {
    const backoff = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };
    expect([0, 1, 2, 3, 6, 7, 100].map((n) => restartDelay(backoff, n))).toEqual([500, 1_000, 2_000, 4_000, 30_000, 30_000, 30_000]);
  });
});

describe('Supervisor', () => {
  it('starts a process that died again, and says so', async () => {
    const { supervisor, started, logs } = harness();
    const first = await supervisor.start();
    first.die();
    await expect.poll(() => started.length).toBe(2);
    await expect.poll(() => supervisor.current?.pid).toBe(101);
    expect(logs).toEqual(['warn: exited (SIGKILL); restarting in 0 s', 'info: restarted (pid 101): data kept']);
    await supervisor.stop();
  });

  it('keeps trying with longer delays while starting fails', async () => {
    const { supervisor, started, logs } = harness({ failStarts: 2 });
    (await supervisor.start()).die({ code: 1, signal: null });
    await expect.poll(() => started.length).toBe(2);
    expect(logs.slice(0, 3)).toEqual([
      'warn: exited (code 1); restarting in 0 s',
      'error: could not be started again: port still in use; restarting in 0 s',
      'error: could not be started again: port still in use; restarting in 0 s',
    ]);
    await expect.poll(() => logs.at(-1)).toBe('info: restarted (pid 101): data kept');
    await supervisor.stop();
  });

  it('does not restart after a fatal exit, and reports it', async () => {
    const { supervisor, started, fatal, logs } = harness({ fatalCode: 78 });
    (await supervisor.start()).die({ code: 78, signal: null });
    await expect.poll(() => fatal).toEqual(['bad configuration']);
    expect(logs).toEqual(['error: exited (code 78): bad configuration']);
    expect(started).toHaveLength(1);
    expect(supervisor.current).toBeUndefined();
  });

  it('stop() stops the process and restarts nothing afterwards, also when a restart was pending', async () => {
    const { supervisor, started } = harness();
    const first = await supervisor.start();
    await supervisor.stop();
    expect(first.stopped).toBe(true);
    expect(supervisor.current).toBeUndefined();

    expect(started).toHaveLength(1);

    vi.useFakeTimers();
    try {
      const other = harness();
      (await other.supervisor.start()).die();
      await vi.advanceTimersByTimeAsync(0);
      expect(other.logs).toEqual(['warn: exited (SIGKILL); restarting in 0 s']);
      await other.supervisor.stop();
      await vi.runAllTimersAsync();
      expect(other.started).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
