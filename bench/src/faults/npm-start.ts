import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  exitOf,
  freePort,
  readStackFile,
  stopOnProcessExit,
  waitUntil,
  type ProcessExit,
  type StackFile,
  type StackProcess,
} from '@siteflow/devstack';

/**
 * The system as `npm start` runs it (scripts/start.mjs --no-build, built already), on a data
 * directory and ports of its own, so a developer's running `npm start` is never touched. The
 * processes are found, by pid, in the stack.json it writes.
 */
export class NpmStartRun {
  readonly exit: Promise<ProcessExit>;
  private readonly tail: string[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly port: number,
    readonly jwtSecret: string,
    private readonly onLine: (line: string) => void,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > 200) this.tail.shift();
        this.onLine(line);
      });
    }
    this.exit = exitOf(child);
  }

  static async launch(root: string, opts: { onLine?: (line: string) => void; env?: Record<string, string> } = {}): Promise<NpmStartRun> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sf-faults-'));
    const port = await freePort();
    const jwtSecret = `faults-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}-secret-key`;
    // Its own NATS and Postgres on free ports, never a developer's or a test run's.
    const dropped = new Set([
      'NATS_URL',
      'DATABASE_URL',
      'PORT',
      'HOST',
      'NATS_PORT',
      'NATS_MONITOR_PORT',
      'POSTGRES_PORT',
      'LOG_FORMAT',
      'npm_lifecycle_event',
    ]);
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.has(name)));
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.mjs'), '--no-build'], {
      cwd: root,
      env: {
        ...env,
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
        JWT_SECRET: jwtSecret,
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    // Should this process end without stopping it (an error, Ctrl-C), npm start stops everything it runs.
    stopOnProcessExit(child, 'SIGTERM');
    return new NpmStartRun(child, dataDir, port, jwtSecret, opts.onLine ?? (() => undefined));
  }

  get socketUrl(): string {
    return `ws://127.0.0.1:${this.port}/socket`;
  }

  stack(): StackFile {
    return readStackFile(path.join(this.dataDir, 'stack.json'));
  }

  process(name: string): StackProcess {
    const entry = this.stack().processes.find((p) => p.name === name);
    if (!entry) throw new Error(`${name} is not in ${this.dataDir}/stack.json`);
    return entry;
  }

  output(): string {
    return this.tail.slice(-40).join('\n');
  }

  private exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** `/readyz?full`: NATS and every service ready (plain `/readyz` is this gateway's NATS only). */
  async ready(full = true): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/readyz${full ? '?full' : ''}`, { signal: AbortSignal.timeout(2_000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  async waitUntilReady(timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        if (this.exited()) throw new Error(`npm start exited:\n${this.output()}`);
        return existsSync(path.join(this.dataDir, 'stack.json')) && (await this.ready());
      },
      { timeoutMs, intervalMs: 250, describe: () => `npm start not ready within ${timeoutMs} ms:\n${this.output()}` },
    );
  }

  /** Waits until stack.json names a pid other than `oldPid` for `name` (the supervisor restarted it). */
  async waitForRestart(name: string, oldPid: number, timeoutMs: number): Promise<number> {
    let pid = oldPid;
    await waitUntil(
      () => {
        try {
          pid = this.process(name).pid;
        } catch {
          // rewritten meanwhile
        }
        return pid !== oldPid;
      },
      { timeoutMs, intervalMs: 100, describe: () => `${name} (pid ${oldPid}) was not restarted within ${timeoutMs} ms:\n${this.output()}` },
    );
    return pid;
  }

  /** Ctrl-C as a person would: the gateway, then the services, then NATS and Postgres; SIGKILL to all after `graceMs`. */
  async stop(graceMs = 60_000): Promise<void> {
    if (!this.exited()) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => void this.destroy(), graceMs);
      await this.exit;
      clearTimeout(timer);
    }
    await rm(this.dataDir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Last resort: nothing of this run may outlive it. The supervisor first, or it would restart the others. */
  async destroy(): Promise<void> {
    let pids: number[] = [];
    try {
      const stack = this.stack();
      pids = [stack.supervisorPid, ...stack.processes.map((p) => p.pid)];
    } catch {
      // no stack file
    }
    for (const pid of [this.child.pid, ...pids]) {
      if (pid === undefined) continue;
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone, or not a group leader
        }
      }
    }
    await this.exit;
  }
}
