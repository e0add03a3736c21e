import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { exitOf, stopChild, stopOnProcessExit } from './child-processes.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { startNatsServer } from './nats-server.js';
import { freePort, isPortFree, portFromEnv } from './ports.js';
import { chooseLogFormat, ProcessLogFormatter, type LogLevel } from './process-logs.js';
import { waitForNats, waitForPostgres } from './reachability.js';
import {
  redactUrl,
  removeStackFile,
  writeStackFile,
  type StackFile,
  type StackProcess,
  type StackRole,
  type StackUrls,
} from './stack-file.js';
import { Supervisor, type RunningProcess } from './supervisor.js';

export const SERVICES = ['chat', 'documents', 'presence', 'checklist'] as const;

/** How long a service or the gateway gets to drain after SIGTERM (their own bound is 10 s). */
const STOP_GRACE_MS = 15_000;
/** EX_CONFIG: the process refused its configuration; starting it again cannot help. */
const EXIT_CONFIG = 78;

export interface StackSupervisorOptions {
  /** The repository: services are run from `services/<name>/dist/main.js`. */
  root: string;
  env: Record<string, string | undefined>;
  /** Where log lines go (stdout). */
  write(text: string): void;
  /** Whether that is a terminal (pretty logs by default, colours). */
  isTTY: boolean;
  /** Instances of each service (default 1); named `<service>-<n>` when more than one (the cluster). */
  instances?: number;
  /** The gateways' ports (default: PORT, or 4000); named `gateway-<n>` when more than one. */
  gatewayPorts?: number[];
}

interface Supervised {
  name: string;
  role: StackRole;
  urls: StackUrls;
  supervisor: Supervisor<RunningProcess>;
}

/**
 * What `npm start` runs after building: nats-server and embedded PostgreSQL (unless NATS_URL /
 * DATABASE_URL name others, which are checked first), the four services and the gateway, each
 * restarted when it dies; `stack.json` in the data directory lists them with their current pids
 * and URLs. `stop()` stops them in dependency order: the gateway (it drains its sockets), then
 * the services (they drain their requests), then NATS and Postgres.
 */
export class StackSupervisor {
  readonly dataDir: string;
  readonly stackFile: string;
  private readonly logs: ProcessLogFormatter;
  private readonly startedAt = new Date();
  private infra: Supervised[] = [];
  private apps: Supervised[] = [];
  protected natsUrl = '';
  private databaseUrl = '';
  private stopping: Promise<number> | undefined;
  private startup: Promise<void> | undefined;
  private fileWrites: Promise<void> = Promise.resolve();
  private exitCode = 0;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once everything has stopped. */
  readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));

  constructor(private readonly opts: StackSupervisorOptions) {
    this.dataDir = path.resolve(opts.root, opts.env.DATA_DIR || '.data');
    this.stackFile = path.join(this.dataDir, 'stack.json');
    this.logs = new ProcessLogFormatter(chooseLogFormat(opts.env.LOG_FORMAT, opts.isTTY), opts.isTTY);
  }

  /**
   * Starts everything and resolves once the gateway is ready. Throws (having stopped what did
   * start) on a configuration error or when NATS or Postgres cannot be had.
   */
  start(): Promise<void> {
    this.startup ??= this.run();
    return this.startup;
  }

  /**
   * Stops everything in order; resolves with the exit code (`exitCode`, or 1 when a process
   * refused its configuration, otherwise 0). Safe to call more than once.
   */
  stop(reason: string, exitCode?: number): Promise<number> {
    if (exitCode !== undefined) this.exitCode = exitCode;
    this.stopping ??= this.stopAll(reason);
    return this.stopping;
  }

  /** Read through a call: `stop()` may be called while the startup awaits. */
  private isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Stops nothing gracefully: SIGKILL to every process (a second Ctrl-C). */
  kill(): void {
    for (const { supervisor } of [...this.apps, ...this.infra]) {
      const pid = supervisor.current?.pid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  log(source: string, level: LogLevel, message: string): void {
    this.opts.write(this.logs.ownLine(source, level, message));
  }

  private async run(): Promise<void> {
    const env = this.opts.env;
    const started = Date.now();
    const gatewayPorts = this.opts.gatewayPorts ?? [portFromEnv(env, 'PORT') ?? 4000];
    const port = gatewayPorts[0] ?? 4000;
    const host = env.HOST || '0.0.0.0';
    const connectTimeoutMs = Number(env.START_CONNECT_TIMEOUT_MS || 15_000);
    if (!Number.isFinite(connectTimeoutMs) || connectTimeoutMs <= 0)
      throw new Error(`START_CONNECT_TIMEOUT_MS must be a positive number of milliseconds, not "${env.START_CONNECT_TIMEOUT_MS}"`);
    const wanted = {
      NATS_PORT: portFromEnv(env, 'NATS_PORT'),
      NATS_MONITOR_PORT: portFromEnv(env, 'NATS_MONITOR_PORT'),
      POSTGRES_PORT: portFromEnv(env, 'POSTGRES_PORT'),
    };
    for (const gatewayPort of gatewayPorts) {
      if (!(await isPortFree(gatewayPort, host)))
        throw new Error(`port ${gatewayPort} is already in use (another npm start?). Stop that, or run with PORT=<other port>.`);
    }
    for (const [name, value] of Object.entries(wanted)) {
      if (value !== undefined && !(await isPortFree(value)))
        throw new Error(`${name} ${value} is already in use. Stop what listens there, or choose another port.`);
    }
    for (const name of [...SERVICES, 'gateway']) {
      const main = path.join(this.opts.root, 'services', name, 'dist', 'main.js');
      if (!existsSync(main)) throw new Error(`${path.relative(this.opts.root, main)} is missing: build first (npm run build:ts)`);
    }
    mkdirSync(this.dataDir, { recursive: true });

    // Both settle before a failure is thrown, so that stop() finds whatever did start.
    const provided = await Promise.allSettled([
      this.provideNats(env, wanted, connectTimeoutMs),
      this.providePostgres(env, wanted, connectTimeoutMs),
    ]);
    for (const result of provided) if (result.status === 'rejected') throw result.reason;
    if (this.isStopping()) return;

    const common = {
      ...env,
      NATS_URL: this.natsUrl,
      DATABASE_URL: this.databaseUrl,
      LOG_LEVEL: env.LOG_LEVEL ?? 'info',
      // Whatever LOG_FORMAT says of npm start's own output: the processes write JSON, which it formats.
      LOG_FORMAT: 'json',
      SEED_DEMO: env.SEED_DEMO ?? 'true',
    };
    const instances = this.opts.instances ?? 1;
    for (const name of SERVICES) {
      for (let n = 1; n <= instances; n++) {
        const metricsPort = await freePort();
        this.apps.push(
          this.superviseApp(
            instances > 1 ? `${name}-${n}` : name,
            'service',
            { ...common, METRICS_PORT: String(metricsPort) },
            { metrics: `http://127.0.0.1:${metricsPort}/metrics` },
            name,
          ),
        );
      }
    }
    const jwtSecret = env.JWT_SECRET ?? this.jwtSecret();
    gatewayPorts.forEach((gatewayPort, i) => {
      const gatewayEnv = {
        ...common,
        PORT: String(gatewayPort),
        DEV_LOGIN: env.DEV_LOGIN ?? 'true',
        JWT_SECRET: jwtSecret,
        WEB_DIST: env.WEB_DIST ?? path.join(this.opts.root, 'web', 'dist'),
      };
      const urls = { http: `http://localhost:${gatewayPort}`, metrics: `http://localhost:${gatewayPort}/metrics` };
      this.apps.push(this.superviseApp(gatewayPorts.length > 1 ? `gateway-${i + 1}` : 'gateway', 'gateway', gatewayEnv, urls, 'gateway'));
    });
    await Promise.all(this.apps.map((app) => app.supervisor.start()));
    await this.writeStack();
    if (this.isStopping()) return;

    for (const gatewayPort of gatewayPorts) await this.waitUntilReady(gatewayPort);
    if (this.isStopping()) return;
    this.printStack(`http://localhost:${port}`, Date.now() - started);
  }

  /** Sets `natsUrl`: NATS_URL when given, otherwise a nats-server of its own (the cluster: three). */
  protected async provideNats(
    env: Record<string, string | undefined>,
    ports: { NATS_PORT?: number | undefined; NATS_MONITOR_PORT?: number | undefined },
    timeoutMs: number,
  ): Promise<void> {
    if (env.NATS_URL) {
      await waitForNats(env.NATS_URL, { timeoutMs, onFirstFailure: (why) => this.log('start', 'warn', why) });
      this.natsUrl = env.NATS_URL;
      this.log('start', 'info', `using NATS at ${redactUrl(env.NATS_URL)} (NATS_URL)`);
      return;
    }
    const port = ports.NATS_PORT ?? (await freePort());
    const monitorPort = ports.NATS_MONITOR_PORT ?? (await freePort());
    const dataDir = path.join(this.dataDir, 'nats');
    const nats = await this.superviseInfra(
      'nats',
      'nats',
      () => startNatsServer({ dataDir, port, monitorPort, detached: true }),
      (server) => ({
        nats: server.url,
        monitoring: server.monitorUrl ?? '',
      }),
    );
    this.natsUrl = `nats://127.0.0.1:${port}`;
    this.log(
      'nats',
      'info',
      `nats-server with JetStream on ${this.natsUrl}, monitoring on ${nats.urls.monitoring} (pid ${nats.supervisor.current?.pid}, data in ${this.relative(dataDir)})`,
    );
  }

  private async providePostgres(
    env: Record<string, string | undefined>,
    ports: { POSTGRES_PORT?: number | undefined },
    timeoutMs: number,
  ): Promise<void> {
    if (env.DATABASE_URL) {
      await waitForPostgres(env.DATABASE_URL, { timeoutMs, onFirstFailure: (why) => this.log('start', 'warn', why) });
      this.databaseUrl = env.DATABASE_URL;
      this.log('start', 'info', `using Postgres at ${redactUrl(env.DATABASE_URL)} (DATABASE_URL)`);
      return;
    }
    const port = ports.POSTGRES_PORT ?? (await freePort());
    const dataDir = path.join(this.dataDir, 'pg');
    const postgres = await this.superviseInfra(
      'postgres',
      'postgres',
      () => startEmbeddedPostgres({ dataDir, port, detached: true }),
      (server) => ({
        postgres: server.url,
      }),
    );
    this.databaseUrl = postgres.urls.postgres ?? '';
    this.log(
      'postgres',
      'info',
      `PostgreSQL on 127.0.0.1:${port} (pid ${postgres.supervisor.current?.pid}, data in ${this.relative(dataDir)})`,
    );
  }

  /** NATS or Postgres: restarted on the same port with the same data when it dies. */
  protected async superviseInfra<S extends RunningProcess>(
    name: string,
    role: StackRole,
    start: () => Promise<S>,
    urlsOf: (server: S) => StackUrls,
  ): Promise<Supervised> {
    const entry: Supervised = {
      name,
      role,
      urls: {},
      supervisor: new Supervisor<RunningProcess>({
        name,
        start,
        log: (level, message) => this.log(name, level, message),
        describe: () => 'same port, data kept',
        onStarted: (server, restart) => {
          entry.urls = urlsOf(server as S);
          if (restart) void this.writeStack();
        },
      }),
    };
    this.infra.push(entry);
    await entry.supervisor.start();
    return entry;
  }

  private superviseApp(
    name: string,
    role: StackRole,
    env: Record<string, string | undefined>,
    urls: StackUrls,
    program: string = name,
  ): Supervised {
    const cwd = path.join(this.opts.root, 'services', program);
    const main = path.join(cwd, 'dist', 'main.js');
    return {
      name,
      role,
      urls,
      supervisor: new Supervisor<RunningProcess>({
        name,
        // A spawn that throws is a failed start (a rejection), as the supervisor expects.
        start: () => new Promise<RunningProcess>((resolve) => resolve(this.spawnApp(name, main, cwd, env))),
        log: (level, message) => this.log(name, level, message),
        onStarted: (_process, restart) => {
          if (restart) void this.writeStack();
        },
        fatal: (exit) =>
          exit.code === EXIT_CONFIG
            ? 'it refused its configuration (see above), so starting it again cannot help; stopping everything'
            : undefined,
        onFatal: () => {
          this.exitCode = 1;
          void this.stop('configuration error');
        },
      }),
    };
  }

  private spawnApp(name: string, main: string, cwd: string, env: Record<string, string | undefined>): RunningProcess {
    // A process group of its own: a Ctrl-C at the terminal reaches only npm start, which stops
    // the gateway before the services and both before NATS and Postgres.
    const child = spawn(process.execPath, [main], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid === undefined) throw new Error(`could not start ${main}`);
    stopOnProcessExit(child, 'SIGTERM');
    for (const stream of [child.stdout, child.stderr])
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.opts.write(this.logs.processLine(name, line)));
    return { pid: child.pid, exited: exitOf(child), stop: () => stopChild(child, { signal: 'SIGTERM', graceMs: STOP_GRACE_MS }) };
  }

  /** Polls /readyz?full (every service ready, not only the gateway); says what is still missing now and then, so a slow start is never silent. */
  private async waitUntilReady(port: number): Promise<void> {
    let lastReason: string;
    let nextReport = Date.now() + 20_000;
    const started = Date.now();
    while (!this.stopping) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz?full`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) return;
        lastReason = `/readyz ${res.status}: ${(await res.text()).slice(0, 500)}`;
      } catch (err) {
        lastReason = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= nextReport) {
        this.log('start', 'warn', `not ready after ${Math.round((Date.now() - started) / 1000)} s: ${lastReason}`);
        nextReport = Date.now() + 20_000;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private stackContent(): StackFile {
    const processes: StackProcess[] = [];
    for (const { name, role, urls, supervisor } of [...this.infra, ...this.apps]) {
      const pid = supervisor.current?.pid;
      if (pid !== undefined) processes.push({ name, role, pid, urls });
    }
    return {
      supervisorPid: process.pid,
      startedAt: this.startedAt.toISOString(),
      natsUrl: this.natsUrl,
      databaseUrl: this.databaseUrl,
      processes,
    };
  }

  /** Writes run one after another, so the last one written is the latest state. */
  private writeStack(): Promise<void> {
    this.fileWrites = this.fileWrites
      .then(() => (this.stopping ? undefined : writeStackFile(this.stackFile, this.stackContent())))
      .catch((err: unknown) =>
        this.log('start', 'error', `could not write ${this.stackFile}: ${err instanceof Error ? err.message : String(err)}`),
      );
    return this.fileWrites;
  }

  private printStack(url: string, tookMs: number): void {
    const { processes } = this.stackContent();
    if (this.logs.format === 'json') {
      this.opts.write(
        `${JSON.stringify({ level: 30, time: Date.now(), service: 'start', msg: 'running', url, stackFile: this.stackFile, processes: processes.map((p) => ({ ...p, urls: redactUrls(p.urls) })) })}\n`,
      );
      return;
    }
    const rows = processes.map((p) => [
      p.name,
      p.role,
      String(p.pid),
      Object.entries(redactUrls(p.urls))
        .map(([kind, u]) => `${kind} ${u}`)
        .join('  '),
    ]);
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0), 7));
    const table = rows
      .map(
        (r) =>
          `  ${r
            .slice(0, 3)
            .map((cell, i) => cell.padEnd(widths[i] ?? 0))
            .join('  ')}  ${r[3]}`,
      )
      .join('\n');
    this.opts.write(
      `\nSiteflow Collab is running at ${url}  (started in ${(tookMs / 1000).toFixed(1)} s; Ctrl-C stops it)\n\n${table}\n\n  (also in ${this.relative(this.stackFile)})\n\n`,
    );
  }

  private async stopAll(reason: string): Promise<number> {
    this.log('start', 'info', `${reason}: stopping the gateway, then the services, then NATS and Postgres (Ctrl-C again to force)`);
    // Whatever the startup is still starting is stopped below once it has started.
    await this.startup?.catch(() => undefined);
    const stopGroup = async (group: Supervised[]) =>
      Promise.all(
        group.map(async ({ name, supervisor }) => {
          const pid = supervisor.current?.pid;
          const began = Date.now();
          await supervisor.stop();
          if (pid !== undefined) this.log(name, 'info', `shut down (pid ${pid}, ${((Date.now() - began) / 1000).toFixed(1)} s)`);
        }),
      );
    await stopGroup(this.apps.filter((a) => a.role === 'gateway'));
    await stopGroup(this.apps.filter((a) => a.role !== 'gateway'));
    await stopGroup(this.infra);
    await this.fileWrites;
    await removeStackFile(this.stackFile).catch(() => undefined);
    this.log('start', 'info', 'stopped');
    this.resolveDone(this.exitCode);
    return this.exitCode;
  }

  /** Kept in the data directory so sessions survive a restart; never committed (.data is ignored). */
  private jwtSecret(): string {
    const file = path.join(this.dataDir, 'jwt-secret');
    if (existsSync(file)) {
      const saved = readFileSync(file, 'utf8').trim();
      if (saved.length >= 32) return saved;
    }
    const secret = randomBytes(48).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }

  protected relative(file: string): string {
    const relative = path.relative(this.opts.root, file);
    return relative.startsWith('..') ? file : relative;
  }
}

function redactUrls(urls: StackUrls): StackUrls {
  return Object.fromEntries(Object.entries(urls).map(([kind, url]) => [kind, redactUrl(String(url))]));
}
