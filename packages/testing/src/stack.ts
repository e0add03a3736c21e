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

export async function startStack(opts: StackOptions): Promise<Stack> {
  const services = opts.services ?? [...SERVICES];
  const withGateway = opts.gateway ?? true;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;
  const jwtSecret = randomBytes(36).toString('base64url'); // 48 characters
  const gatewayPort = await freePort();
  // Fails fast on a wrong URL (connectNats would wait for the server forever), then reconnects
  // endlessly, as tests may restart things.
  const nats = await connect({
    ...natsOptionsFromUrl(opts.natsUrl),
    name: 'stack-harness',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: 5_000,
  });
  if (opts.freshJetStream !== false) await deleteAllStreams(nats);

  const primaries = new Map<StackProcessName, Instance>();
  const all = new Set<Instance>();
  const counters = new Map<StackProcessName, number>();
  let stopping = false;

  const envFor = (name: StackProcessName, instanceId: string, port: number | undefined, extra: Record<string, string> = {}) => {
    const env: Record<string, string> = {
      ...definedEnv(process.env),
      NATS_URL: opts.natsUrl,
      DATABASE_URL: opts.databaseUrl,
      LOG_LEVEL: 'warn',
      SEED_DEMO: 'true',
      INSTANCE_ID: instanceId,
    };
    if (name === 'gateway') {
      Object.assign(env, {
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
      });
    }
    return { ...env, ...opts.env, ...opts.processEnv?.[name], ...extra };
  };

  const launch = (name: StackProcessName, instanceId: string, env: Record<string, string>): Instance => {
    const main = opts.entryPoint?.(name) ?? path.join(REPO_ROOT, 'services', name, 'dist', 'main.js');
    if (!existsSync(main)) {
      throw new Error(`${path.relative(REPO_ROOT, main)} does not exist: build first (npx tsc -b tsconfig.build.json)`);
    }
    const child = spawn(process.execPath, [...(opts.nodeArgs?.[name] ?? []), main], {
      cwd: path.dirname(path.dirname(main)),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail = new OutputTail(500);
    const instance: Instance = { name, instanceId, env, child, tail, expectedExit: false, ready: false };
    const mirror = process.env.SITEFLOW_STACK_LOGS === '1';
    const onOutput = (chunk: Buffer) => {
      tail.write(chunk);
      if (mirror) process.stderr.write(prefixLines(`[${instanceId}] `, chunk.toString('utf8')));
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('error', (err) => tail.write(`[harness] spawn failed: ${err.message}\n`));
    child.once('exit', (code, signal) => {
      if (instance.expectedExit || stopping || !instance.ready) return;
      process.stderr.write(
        `[stack] ${instanceId} (pid ${child.pid ?? '?'}) exited unexpectedly (code ${code ?? '-'}, signal ${signal ?? '-'}). Last output:\n` +
          `${prefixLines(`  ${instanceId} | `, tail.text(60))}\n`,
      );
    });
    stopOnProcessExit(child, 'SIGKILL');
    all.add(instance);
    return instance;
  };

  const waitReady = async (instance: Instance, port: number | undefined) => {
    await untilReady(instance, port);
    instance.ready = true;
  };
  const untilReady = async (instance: Instance, port: number | undefined) => {
    const deadline = Date.now() + readyTimeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (hasExited(instance.child)) {
        throw new Error(
          `${instance.instanceId} exited before it was ready (code ${instance.child.exitCode ?? '-'}, signal ${instance.child.signalCode ?? '-'}). Last output:\n${instance.tail.text(60)}`,
        );
      }
      if (instance.name === 'gateway') {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) });
          if (res.status === 200) return;
          last = `GET /readyz answered ${res.status}`;
        } catch (err) {
          last = `GET /readyz failed: ${errorText(err)}`;
        }
      } else {
        const reply = await requestService(nats, subjects.health(instance.name), {}, { timeoutMs: 500 });
        if (reply.ok) {
          const health = HealthReply.safeParse(reply.data);
          // Another instance of the same service may answer first (queue group): ask again.
          if (!health.success || health.data.instance === instance.instanceId) return;
          last = `answered by ${health.data.instance}`;
        } else {
          last = `${reply.error.code}: ${reply.error.message}`;
        }
      }
      await sleep(100);
    }
    throw new Error(`${instance.instanceId} was not ready within ${readyTimeoutMs} ms (${last}). Last output:\n${instance.tail.text(60)}`);
  };

  const stopInstance = async (instance: Instance, signal: NodeJS.Signals = 'SIGTERM') => {
    instance.expectedExit = true;
    await stopChild(instance.child, { signal, graceMs: STOP_GRACE_MS });
  };

  // Unique per stack: another test run on the same NATS must not pass for one of ours.
  const stackId = randomBytes(3).toString('hex');
  const instanceIdOf = (name: StackProcessName, n: number) => `${name}-${n}-${stackId}`;
  const nextInstanceId = (name: StackProcessName) => {
    const n = (counters.get(name) ?? 0) + 1;
    counters.set(name, n);
    return instanceIdOf(name, n);
  };

  const startPrimary = async (name: StackProcessName, instanceId: string) => {
    const port = name === 'gateway' ? gatewayPort : undefined;
    const instance = launch(name, instanceId, envFor(name, instanceId, port));
    primaries.set(name, instance);
    await waitReady(instance, port);
  };

  const stopAll = async () => {
    stopping = true;
    await Promise.allSettled([...all].map((i) => stopInstance(i)));
    await nats.close().catch(() => undefined);
  };

  const handle = (instance: Instance, extra?: { port: number }): StackProcess | GatewayProcess => {
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
      kill: (signal: NodeJS.Signals = 'SIGKILL') => stopInstance(instance, signal),
    };
    if (!extra) return base;
    return Object.assign(base, {
      port: extra.port,
      gatewayUrl: `http://127.0.0.1:${extra.port}`,
      socketUrl: `ws://127.0.0.1:${extra.port}/socket`,
    });
  };

  const primary = (name: StackProcessName): Instance => {
    const instance = primaries.get(name);
    if (!instance) throw new Error(`the stack has no ${name} (started with: ${[...primaries.keys()].join(', ')})`);
    return instance;
  };

  try {
    // Services first: the gateway's readiness may depend on them. Each gets its own first
    // instance id; all start in parallel.
    const names = new Set<StackProcessName>(services);
    await Promise.all([...names].map((name) => startPrimary(name, nextInstanceId(name))));
    if (withGateway) await startPrimary('gateway', nextInstanceId('gateway'));
  } catch (err) {
    await stopAll();
    throw err;
  }

  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const stack: Stack = {
    gatewayUrl,
    socketUrl: `ws://127.0.0.1:${gatewayPort}/socket`,
    gatewayPort,
    jwtSecret,
    natsUrl: opts.natsUrl,
    databaseUrl: opts.databaseUrl,
    nats,
    process: (name) => handle(primary(name)),
    logs: (name) => primary(name).tail.text(),
    dumpLogs(names) {
      const chosen = [...all].filter((i) => !names || names.includes(i.name));
      for (const i of chosen) {
        process.stderr.write(
          `----- ${i.instanceId} (pid ${i.child.pid ?? '?'}${hasExited(i.child) ? ', exited' : ''}) -----\n${i.tail.text(120)}\n`,
        );
      }
    },
    kill: (name, signal = 'SIGKILL') => stopInstance(primary(name), signal),
    async start(name) {
      const current = primaries.get(name);
      if (current && !hasExited(current.child)) throw new Error(`${current.instanceId} is still running; kill it first`);
      if (stopping) throw new Error('the stack was stopped');
      await startPrimary(name, current?.instanceId ?? nextInstanceId(name));
    },
    async startExtra(name: StackProcessName, env?: Record<string, string>) {
      if (stopping) throw new Error('the stack was stopped');
      const instanceId = nextInstanceId(name);
      const port = name === 'gateway' ? await freePort() : undefined;
      const instance = launch(name, instanceId, envFor(name, instanceId, port, env));
      try {
        await waitReady(instance, port);
      } catch (err) {
        await stopInstance(instance, 'SIGKILL');
        throw err;
      }
      return handle(instance, port === undefined ? undefined : { port }) as GatewayProcess;
    },
    async devLogin(username) {
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
    },
    stop: stopAll,
  };
  return stack;
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
