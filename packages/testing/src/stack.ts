import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { DevLoginResponse, HealthReply, SERVICES, subjects, type ServiceName } from '@siteflow/contracts';
import { freePort, hasExited, OutputTail, stopChild, stopOnProcessExit } from '@siteflow/devstack';
import { natsOptionsFromUrl, requestService } from '@siteflow/messaging';

/**
 * The stack harness: the compiled services and gateway as real processes against one NATS and a
 * per-test-file database, for the integration and end-to-end tiers.
 */
export type StackProcessName = ServiceName | 'gateway';

export interface StackOptions {
  natsUrl: string;
  /** A database of the test file's own (`createTestDatabase`). */
  databaseUrl: string;
  /** Default: all four. */
  services?: ServiceName[];
  /** Default true. */
  gateway?: boolean;
  /** Extra environment for every process (overrides the harness defaults). */
  env?: Record<string, string>;
  /** Extra environment for one kind of process (applied after `env`). */
  processEnv?: Partial<Record<StackProcessName, Record<string, string>>>;
  /** How long a process gets to become ready. Default 90 s: on a loaded two-core machine a Nest service may take most of a minute to boot, and a ready one is seen at once. */
  readyTimeoutMs?: number;
  /** The script a process runs. Default `<repo>/services/<name>/dist/main.js` (the harness's own tests use fakes). */
  entryPoint?: (name: StackProcessName) => string;
  /**
   * Delete every JetStream stream (and so KV bucket) before starting, default true: each test file
   * gets a fresh database, and its JetStream state (streams, durable consumers, buckets) must not
   * come from an earlier file. Only ever point the harness at a NATS server used for tests.
   */
  freshJetStream?: boolean;
  /** Extra node flags per process, e.g. `{ gateway: ['--cpu-prof'] }` (not allowed in NODE_OPTIONS). */
  nodeArgs?: Partial<Record<StackProcessName, string[]>>;
}

/** One running (or stopped) process of the stack. */
export interface StackProcess {
  readonly name: StackProcessName;
  /** INSTANCE_ID it runs with: `<name>-<n>-<stack id>` (`chat-1-3fa2c1`, then `chat-2-3fa2c1`, …). */
  readonly instanceId: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The last lines it wrote (stdout and stderr). */
  logs(): string;
  /** Sends `signal` (default SIGKILL, a crash) and resolves once it exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** An extra gateway listens on a port of its own. */
export interface GatewayProcess extends StackProcess {
  readonly gatewayUrl: string;
  readonly socketUrl: string;
  readonly port: number;
}

export interface Stack {
  /** `http://127.0.0.1:<port>` of the gateway. */
  readonly gatewayUrl: string;
  /** `ws://127.0.0.1:<port>/socket` (the phoenix client appends `/websocket`). */
  readonly socketUrl: string;
  readonly gatewayPort: number;
  /** The gateway's JWT_SECRET, to mint tokens in tests. */
  readonly jwtSecret: string;
  readonly natsUrl: string;
  readonly databaseUrl: string;
  /** The harness's own NATS connection (health checks); tests may use it for direct requests. */
  readonly nats: NatsConnection;
  /** The primary process of that name (also after a restart). */
  process(name: StackProcessName): StackProcess;
  /** The last output of the primary process of that name. */
  logs(name: StackProcessName): string;
  /** Writes the last output of every process (or of `names`) to stderr. */
  dumpLogs(names?: StackProcessName[]): void;
  /** Signals the primary process (default SIGKILL) and resolves once it exited. */
  kill(name: StackProcessName, signal?: NodeJS.Signals): Promise<void>;
  /** Starts the primary process again (same port for the gateway) and waits until it is ready. */
  start(name: StackProcessName): Promise<void>;
  /** Starts another instance (its own INSTANCE_ID; a gateway gets its own port) and waits until it is ready. */
  startExtra(name: 'gateway', env?: Record<string, string>): Promise<GatewayProcess>;
  startExtra(name: ServiceName, env?: Record<string, string>): Promise<StackProcess>;
  /** `POST /api/auth/dev-login` on the gateway. */
  devLogin(username: string): Promise<DevLoginResponse>;
  /** SIGTERM to every process, SIGKILL after 5 s; closes the harness's NATS connection. */
  stop(): Promise<void>;
}

export type { DevLoginResponse };

/** The repository root, found from this package's location (packages/testing/dist). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const STOP_GRACE_MS = 5_000;

interface Instance {
  name: StackProcessName;
  instanceId: string;
  env: Record<string, string>;
  child: ChildProcess;
  tail: OutputTail;
  /** Set when the harness (not the process itself) caused the exit. */
  expectedExit: boolean;
  /** Once ready, an exit is reported as it happens (before, the readiness error reports it). */
  ready: boolean;
}

/** The processes of one stack and how to start, watch and stop them. */
class StackProcesses {
  readonly jwtSecret = randomBytes(36).toString('base64url'); // 48 characters
  readonly #primaries = new Map<StackProcessName, Instance>();
  readonly #all = new Set<Instance>();
  readonly #counters = new Map<StackProcessName, number>();
  // Unique per stack: another test run on the same NATS must not pass for one of ours.
  readonly #stackId = randomBytes(3).toString('hex');
  readonly #readyTimeoutMs: number;
  #stopping = false;

  constructor(
    private readonly opts: StackOptions,
    readonly nats: NatsConnection,
    readonly gatewayPort: number,
  ) {
    this.#readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;
  }

  /** Services first (in parallel), as the gateway's readiness may depend on them; stops everything when one fails. */
  async startAll(services: readonly ServiceName[], withGateway: boolean): Promise<void> {
    try {
      const names = new Set<StackProcessName>(services);
      await Promise.all([...names].map((name) => this.startPrimary(name, this.nextInstanceId(name))));
      if (withGateway) await this.startPrimary('gateway', this.nextInstanceId('gateway'));
    } catch (err) {
      await this.stopAll();
      throw err;
    }
  }

  /** The primary process of that name, started again under its own instance id when it ran before. */
  async restart(name: StackProcessName): Promise<void> {
    const current = this.#primaries.get(name);
    if (current && !hasExited(current.child)) throw new Error(`${current.instanceId} is still running; kill it first`);
    if (this.#stopping) throw new Error('the stack was stopped');
    await this.startPrimary(name, current?.instanceId ?? this.nextInstanceId(name));
  }

  async startExtra(name: StackProcessName, env?: Record<string, string>): Promise<StackProcess | GatewayProcess> {
    if (this.#stopping) throw new Error('the stack was stopped');
    const instanceId = this.nextInstanceId(name);
    const port = name === 'gateway' ? await freePort() : undefined;
    const instance = this.launch(name, instanceId, this.envFor(name, instanceId, port, env));
    try {
      await this.waitReady(instance, port);
    } catch (err) {
      await this.stopInstance(instance, 'SIGKILL');
      throw err;
    }
    return this.handle(instance, port === undefined ? undefined : { port });
  }

  primary(name: StackProcessName): Instance {
    const instance = this.#primaries.get(name);
    if (!instance) throw new Error(`the stack has no ${name} (started with: ${[...this.#primaries.keys()].join(', ')})`);
    return instance;
  }

  handle(instance: Instance, extra?: { port: number }): StackProcess | GatewayProcess {
    const base: StackProcess = {
      name: instance.name,
      instanceId: instance.instanceId,
      get pid() {
        return instance.child.pid;
      },
      get running() {
        return !hasExited(instance.child);
      },
      logs: () => instance.tail.text(),
      kill: (signal: NodeJS.Signals = 'SIGKILL') => this.stopInstance(instance, signal),
    };
    if (!extra) return base;
    return Object.assign(base, {
      port: extra.port,
      gatewayUrl: `http://127.0.0.1:${extra.port}`,
      socketUrl: `ws://127.0.0.1:${extra.port}/socket`,
    });
  }

  dumpLogs(names?: StackProcessName[]): void {
    const chosen = [...this.#all].filter((i) => !names || names.includes(i.name));
    for (const i of chosen) {
      process.stderr.write(
        `----- ${i.instanceId} (pid ${i.child.pid ?? '?'}${hasExited(i.child) ? ', exited' : ''}) -----\n${i.tail.text(120)}\n`,
      );
    }
  }

  async stopInstance(instance: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    instance.expectedExit = true;
    await stopChild(instance.child, { signal, graceMs: STOP_GRACE_MS });
    if (instance.name !== 'gateway' && !this.#stopping && ![...this.#all].some((i) => i.name === instance.name && !hasExited(i.child))) {
      await this.untilGone(instance.name);
    }
  }

  /**
   * Waits until NATS has dropped the service's last connection: a request then gets no responders
   * at once. The process's exit is seen here before the server reads its closed socket, so a
   * request sent straight after a kill could still be routed to the dead connection and wait out
   * its timeout (seen once in CI, on a loaded machine). Gives up after 10 s without failing.
   */
  private async untilGone(name: ServiceName): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const reply = await requestService(this.nats, subjects.health(name), {}, { timeoutMs: 500 });
      if (!reply.ok && reply.error.message.endsWith('is not running')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stopAll(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled([...this.#all].map((i) => this.stopInstance(i)));
    await this.nats.close().catch(() => undefined);
  }

  private nextInstanceId(name: StackProcessName): string {
    const n = (this.#counters.get(name) ?? 0) + 1;
    this.#counters.set(name, n);
    return `${name}-${n}-${this.#stackId}`;
  }

  private async startPrimary(name: StackProcessName, instanceId: string): Promise<void> {
    const port = name === 'gateway' ? this.gatewayPort : undefined;
    const instance = this.launch(name, instanceId, this.envFor(name, instanceId, port));
    this.#primaries.set(name, instance);
    await this.waitReady(instance, port);
  }

  private envFor(
    name: StackProcessName,
    instanceId: string,
    port: number | undefined,
    extra: Record<string, string> = {},
  ): Record<string, string> {
    const env: Record<string, string> = {
      ...definedEnv(process.env),
      NATS_URL: this.opts.natsUrl,
      DATABASE_URL: this.opts.databaseUrl,
      LOG_LEVEL: 'warn',
      // The tests read JSON lines, whatever LOG_FORMAT the shell that runs them has.
      LOG_FORMAT: 'json',
      SEED_DEMO: 'true',
      INSTANCE_ID: instanceId,
      ...(name === 'gateway' ? gatewayEnv(port, this.jwtSecret) : {}),
    };
    return { ...env, ...this.opts.env, ...this.opts.processEnv?.[name], ...extra };
  }

  private launch(name: StackProcessName, instanceId: string, env: Record<string, string>): Instance {
    const main = this.opts.entryPoint?.(name) ?? path.join(REPO_ROOT, 'services', name, 'dist', 'main.js');
    if (!existsSync(main)) {
      throw new Error(`${path.relative(REPO_ROOT, main)} does not exist: build first (npx tsc -b tsconfig.build.json)`);
    }
    const child = spawn(process.execPath, [...(this.opts.nodeArgs?.[name] ?? []), main], {
      cwd: path.dirname(path.dirname(main)),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const instance: Instance = { name, instanceId, env, child, tail: new OutputTail(500), expectedExit: false, ready: false };
    this.watch(instance);
    stopOnProcessExit(child, 'SIGKILL');
    this.#all.add(instance);
    return instance;
  }

  /** Keeps the process's last output (mirrored to stderr with SITEFLOW_STACK_LOGS=1) and reports an unexpected exit once it was ready. */
  private watch(instance: Instance): void {
    const { child, tail, instanceId } = instance;
    const mirror = process.env.SITEFLOW_STACK_LOGS === '1';
    const onOutput = (chunk: Buffer) => {
      tail.write(chunk);
      if (mirror) process.stderr.write(prefixLines(`[${instanceId}] `, chunk.toString('utf8')));
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    child.on('error', (err) => tail.write(`[harness] spawn failed: ${err.message}\n`));
    child.once('exit', (code, signal) => {
      if (instance.expectedExit || this.#stopping || !instance.ready) return;
      process.stderr.write(
        `[stack] ${instanceId} (pid ${child.pid ?? '?'}) exited unexpectedly (code ${code ?? '-'}, signal ${signal ?? '-'}). Last output:\n` +
          `${prefixLines(`  ${instanceId} | `, tail.text(60))}\n`,
      );
    });
  }

  private async waitReady(instance: Instance, port: number | undefined): Promise<void> {
    await this.untilReady(instance, port);
    instance.ready = true;
  }

  private async untilReady(instance: Instance, port: number | undefined): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (hasExited(instance.child)) {
        throw new Error(
          `${instance.instanceId} exited before it was ready (code ${instance.child.exitCode ?? '-'}, signal ${instance.child.signalCode ?? '-'}). Last output:\n${instance.tail.text(60)}`,
        );
      }
      const notReady =
        instance.name === 'gateway' ? await gatewayNotReady(port) : await serviceNotReady(this.nats, instance.name, instance.instanceId);
      if (notReady === null) return;
      last = notReady;
      await sleep(100);
    }
    throw new Error(
      `${instance.instanceId} was not ready within ${this.#readyTimeoutMs} ms (${last}). Last output:\n${instance.tail.text(60)}`,
    );
  }
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const gatewayPort = await freePort();
  const nats = await connectHarness(opts.natsUrl);
  if (opts.freshJetStream !== false) await deleteAllStreams(nats);
  const processes = new StackProcesses(opts, nats, gatewayPort);
  await processes.startAll(opts.services ?? [...SERVICES], opts.gateway ?? true);
  return stackOf(processes, opts);
}

/** The harness's own NATS connection. */
function connectHarness(natsUrl: string): Promise<NatsConnection> {
  // Fails fast on a wrong URL (connectNats would wait for the server forever), then reconnects
  // endlessly, as tests may restart things.
  return connect({
    ...natsOptionsFromUrl(natsUrl),
    name: 'stack-harness',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: 5_000,
  });
}

/** The gateway's part of the harness defaults. */
function gatewayEnv(port: number | undefined, jwtSecret: string): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: jwtSecret,
    DEV_LOGIN: 'true',
    // Long enough that a busy machine (tests run beside other work) is not taken for a dead
    // service; a stopped service is answered at once anyway (no responders).
    PUSH_TIMEOUT_MS: '10000',
    // Tests drive sockets far harder than people do (e.g. lock races); the frame-rate limit is
    // exercised on its own in the security tests.
    FRAMES_PER_SECOND: '2000',
    // Load and storm tests hold hundreds of sockets per demo user; the per-user cap is
    // exercised on its own in the security tests.
    MAX_CONNECTIONS_PER_USER: '10000',
  };
}

/** Why the gateway is not ready yet, or null once `GET /readyz` answers 200. */
async function gatewayNotReady(port: number | undefined): Promise<string | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) });
    return res.status === 200 ? null : `GET /readyz answered ${res.status}`;
  } catch (err) {
    return `GET /readyz failed: ${errorText(err)}`;
  }
}

/** Why a service instance is not ready yet, or null once it answers its health request itself. */
async function serviceNotReady(nats: NatsConnection, name: ServiceName, instanceId: string): Promise<string | null> {
  const reply = await requestService(nats, subjects.health(name), {}, { timeoutMs: 500 });
  if (!reply.ok) return `${reply.error.code}: ${reply.error.message}`;
  const health = HealthReply.safeParse(reply.data);
  // Another instance of the same service may answer first (queue group): ask again.
  if (!health.success || health.data.instance === instanceId) return null;
  return `answered by ${health.data.instance}`;
}

/** The stack as tests see it. */
function stackOf(processes: StackProcesses, opts: StackOptions): Stack {
  const gatewayUrl = `http://127.0.0.1:${processes.gatewayPort}`;
  return {
    gatewayUrl,
    socketUrl: `ws://127.0.0.1:${processes.gatewayPort}/socket`,
    gatewayPort: processes.gatewayPort,
    jwtSecret: processes.jwtSecret,
    natsUrl: opts.natsUrl,
    databaseUrl: opts.databaseUrl,
    nats: processes.nats,
    process: (name) => processes.handle(processes.primary(name)),
    logs: (name) => processes.primary(name).tail.text(),
    dumpLogs: (names) => processes.dumpLogs(names),
    kill: (name, signal = 'SIGKILL') => processes.stopInstance(processes.primary(name), signal),
    start: (name) => processes.restart(name),
    startExtra: async (name: StackProcessName, env?: Record<string, string>) => (await processes.startExtra(name, env)) as GatewayProcess,
    devLogin: (username) => devLogin(gatewayUrl, username),
    stop: () => processes.stopAll(),
  };
}

/**
 * `POST /api/auth/dev-login` on the gateway at `gatewayUrl` (`http://127.0.0.1:<port>`): the token
 * and the user; throws unless it answers 200 with such a body. `Stack.devLogin` is this on its gateway.
 */
export async function devLogin(gatewayUrl: string, username: string): Promise<DevLoginResponse> {
  const res = await fetch(`${gatewayUrl}/api/auth/dev-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`dev-login as ${username} answered ${res.status}: ${body}`);
  const parsed = DevLoginResponse.safeParse(JSON.parse(body));
  if (!parsed.success) throw new Error(`dev-login as ${username} answered an unexpected body: ${body}`);
  return parsed.data;
}

function definedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function prefixLines(prefix: string, text: string): string {
  return text
    .split('\n')
    .map((line, i, lines) => (i === lines.length - 1 && line === '' ? '' : `${prefix}${line}`))
    .join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  return String(err);
}

async function deleteAllStreams(nats: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nats);
  const names: string[] = [];
  for await (const info of jsm.streams.list()) names.push(info.config.name);
  for (const name of names) await jsm.streams.delete(name).catch(() => undefined);
}
