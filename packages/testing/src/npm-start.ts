import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
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
import { REPO_ROOT } from './stack.js';

/** One of `npm start`'s own JSON log lines (`service: "start"`). */
export interface NpmStartLogEntry {
  service?: string;
  process?: string;
  msg?: string;
  level?: number;
}

export interface NpmStartOptions {
  /** Its DATA_DIR. Default: a fresh temporary directory, removed by `stop()`. */
  dataDir?: string;
  /** The checkout whose scripts/start.mjs runs (built already). Default: this repository. */
  root?: string;
  /** Environment on top of the inherited one (README "`npm start`"), e.g. `{ LOG_LEVEL: 'warn', HOST: '127.0.0.1' }`. */
  env?: Record<string, string>;
  /** `npm start -- --no-build` (npm → sh → node) instead of `node scripts/start.mjs --no-build`. */
  viaNpm?: boolean;
  /** Every line it prints (stdout and stderr), as it comes. */
  onLine?: (line: string) => void;
}

/** How many lines of each stream are kept (a long fault run prints a lot). */
const KEPT_LINES = 20_000;

/**
 * The system as `npm start` runs it (scripts/start.mjs --no-build), on a data directory and a port
 * of its own, its own NATS and Postgres on free ports, so a developer's `npm start` or a test run's
 * servers are never touched. It runs in a process group of its own, as a terminal's foreground job
 * (Ctrl-C is SIGINT to the group); its processes are found, by pid, in the stack.json it writes.
 * One runner for `tests/start.int.spec.ts` and the fault suite.
 */
export class NpmStartRun {
  /** Its stdout lines and stderr lines, in order. */
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exit: Promise<ProcessExit>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly port: number,
    private readonly ownsDataDir: boolean,
    private readonly env: Record<string, string>,
    onLine: (line: string) => void,
  ) {
    const collect = (stream: NodeJS.ReadableStream | null, into: string[]) => {
      if (!stream) return;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        into.push(line);
        if (into.length > KEPT_LINES) into.shift();
        onLine(line);
      });
    };
    collect(child.stdout, this.lines);
    collect(child.stderr, this.stderr);
    this.exit = exitOf(child);
  }

  static async launch(opts: NpmStartOptions = {}): Promise<NpmStartRun> {
    const root = opts.root ?? REPO_ROOT;
    const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'sf-npm-start-')));
    // Under root PostgreSQL runs as the postgres user, which must enter the directory.
    if (!opts.dataDir) await chmod(dataDir, 0o755);
    const port = await freePort();
    // Its own NATS and Postgres on free ports unless `env` says otherwise (never the caller's).
    const notInherited = new Set([
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
    const inherited: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !notInherited.has(k)) inherited[k] = v;
    const env = { ...inherited, DATA_DIR: dataDir, PORT: String(port), LOG_FORMAT: 'json', ...opts.env };
    const [command, args] = opts.viaNpm
      ? ['npm', ['start', '--', '--no-build']]
      : [process.execPath, [path.join(root, 'scripts', 'start.mjs'), '--no-build']];
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    // Should the caller end without stopping it (an error, Ctrl-C), npm start stops everything it runs.
    stopOnProcessExit(child, 'SIGTERM');
    return new NpmStartRun(child, dataDir, port, !opts.dataDir, env, opts.onLine ?? (() => undefined));
  }

  get socketUrl(): string {
    return `ws://127.0.0.1:${this.port}/socket`;
  }

  /** The HS256 key its gateway verifies with: `JWT_SECRET` when given, otherwise the one it generated into DATA_DIR. */
  get jwtSecret(): string {
    return this.env.JWT_SECRET ?? readFileSync(path.join(this.dataDir, 'jwt-secret'), 'utf8').trim();
  }

  get stackFile(): string {
    return path.join(this.dataDir, 'stack.json');
  }

  stack(): StackFile {
    return readStackFile(this.stackFile);
  }

  process(name: string): StackProcess {
    const entry = this.stack().processes.find((p) => p.name === name);
    if (!entry) throw new Error(`${name} is not in ${this.stackFile}`);
    return entry;
  }

  pidOf(name: string): number {
    return this.process(name).pid;
  }

  /** npm start's own log lines (JSON), in order. */
  ownEntries(): NpmStartLogEntry[] {
    return this.lines.flatMap((line) => {
      try {
        const entry = JSON.parse(line) as NpmStartLogEntry;
        return entry.service === 'start' ? [entry] : [];
      } catch {
        return [];
      }
    });
  }

  output(): string {
    return [...this.lines.slice(-60), ...this.stderr.slice(-20)].join('\n');
  }

  get exited(): boolean {
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

  async waitUntilReady(timeoutMs = 90_000): Promise<void> {
    await waitUntil(
      async () => {
        if (this.exited) throw new Error(`npm start exited:\n${this.output()}`);
        return existsSync(this.stackFile) && (await this.ready());
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
          pid = this.pidOf(name);
        } catch {
          // rewritten meanwhile
        }
        return pid !== oldPid;
      },
      { timeoutMs, intervalMs: 100, describe: () => `${name} (pid ${oldPid}) was not restarted within ${timeoutMs} ms:\n${this.output()}` },
    );
    return pid;
  }

  /** SIGTERM as a service manager would: the gateway, then the services, then NATS and Postgres; SIGKILL to all after `graceMs`. */
  async stop(graceMs = 60_000): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => void this.destroy(), graceMs);
      await this.exit;
      clearTimeout(timer);
    }
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Last resort: nothing of this run may outlive it. The supervisor first, or it would restart the others. */
  async destroy(): Promise<void> {
    let pids: number[] = [];
    try {
      const stack = this.stack();
      pids = [stack.supervisorPid, ...stack.processes.map((p) => p.pid)];
    } catch {
      // no stack file (stopped, or never written)
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
