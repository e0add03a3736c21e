import { describeExit, type ProcessExit } from './child-processes.js';

/** A process that a supervisor keeps running. */
export interface RunningProcess {
  pid: number;
  /** Resolves when the process has ended, whether stopped or died. */
  exited: Promise<ProcessExit>;
  /** Stops the process (gracefully, then by force) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** How long to wait before starting a process again. */
export interface RestartBackoff {
  /** The first delay; doubled after each restart that did not last. */
  initialMs: number;
  maxMs: number;
  /** A process that ran this long before it died is restarted after `initialMs` again. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: RestartBackoff = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };

/** The delay before restart number `attempt` (0 for the first). */
export function restartDelay(backoff: RestartBackoff, attempt: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
}

export interface SupervisorOptions<P extends RunningProcess> {
  /** Used in log lines. */
  name: string;
  /** Starts the process; resolves once it runs (or is ready, as the caller defines it). */
  start(): Promise<P>;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Added to the "restarted" log line, e.g. what was kept. */
  describe?(process: P): string;
  /** After every start, the first one included: e.g. to record the new pid. */
  onStarted?(process: P, restart: boolean): void;
  /**
   * The reason why starting this process again after `exit` cannot help (e.g. it refused its
   * configuration), or undefined to restart it. A fatal exit is reported to `onFatal`.
   */
  fatal?(exit: ProcessExit): string | undefined;
  onFatal?(reason: string): void;
  backoff?: RestartBackoff;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Keeps one process running: whenever it dies other than through `stop()` it is started again
 * after a delay that doubles while it keeps dying (a failed start counts as dying), and every
 * step is logged. The first start is the caller's: its failure is thrown, not retried.
 */
export class Supervisor<P extends RunningProcess> {
  private running: P | undefined;
  private startedAt = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private starting: Promise<P | undefined> | undefined;
  private stopped = false;
  private readonly backoff: RestartBackoff;
  private readonly now: () => number;

  constructor(private readonly opts: SupervisorOptions<P>) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.now = opts.now ?? (() => Date.now());
  }

  /** Read through a call: `stop()` may set it while a restart is awaited. */
  private isStopped(): boolean {
    return this.stopped;
  }

  /** The process running now, if any (none between a death and its restart). */
  get current(): P | undefined {
    return this.running;
  }

  /** The first start. */
  async start(): Promise<P> {
    const process = await this.opts.start();
    if (this.stopped) {
      await process.stop();
      throw new Error(`${this.opts.name}: stopped while starting`);
    }
    this.adopt(process, false);
    return process;
  }

  /** Stops supervising, then the process; a pending restart is cancelled. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A restart in flight finishes first, then its process is stopped here.
    const process = this.starting ? await this.starting : this.running;
    await process?.stop();
  }

  private adopt(process: P, restart: boolean): void {
    this.running = process;
    this.startedAt = this.now();
    this.opts.onStarted?.(process, restart);
    void process.exited.then((exit) => this.onExit(process, exit));
  }

  private onExit(process: P, exit: ProcessExit): void {
    if (this.running === process) this.running = undefined;
    if (this.stopped) return;
    const reason = this.opts.fatal?.(exit);
    if (reason !== undefined) {
      this.stopped = true;
      this.opts.log('error', `exited (${describeExit(exit)}): ${reason}`);
      this.opts.onFatal?.(reason);
      return;
    }
    if (this.now() - this.startedAt >= this.backoff.resetAfterMs) this.attempt = 0;
    this.scheduleRestart(`exited (${describeExit(exit)})`);
  }

  private scheduleRestart(why: string): void {
    const delay = restartDelay(this.backoff, this.attempt++);
    this.opts.log(this.attempt > 1 ? 'error' : 'warn', `${why}; restarting in ${formatSeconds(delay)}`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    this.starting = this.opts.start().then(
      (process) => process,
      (err: unknown) => {
        if (!this.stopped) this.scheduleRestart(`could not be started again: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      },
    );
    const process = await this.starting;
    this.starting = undefined;
    if (!process || this.isStopped()) return; // stop() stops it
    const details = this.opts.describe?.(process);
    this.opts.log('info', `restarted (pid ${process.pid})${details ? `: ${details}` : ''}`);
    this.adopt(process, true);
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
