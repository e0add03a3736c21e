import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { HealthReply, subjects } from '@siteflow/contracts';
import { freePort } from '@siteflow/devstack';
import { natsOptionsFromUrl, requestService } from '@siteflow/messaging';
import {
  createSuiteDatabase,
  errorText,
  provideInfrastructure,
  type Infrastructure,
  type InfrastructureOptions,
} from './infrastructure.js';
import { commandFor, PartProcess, type ServiceLocation, type SiteflowPartName, type SiteflowService } from './processes.js';
import { Identities, type TestUser, type TokenOptions } from './identities.js';
import { RealtimeClient, type RealtimeOptions } from './realtime.js';

export const SERVICES: readonly SiteflowService[] = ['documents', 'presence', 'chat', 'checklist'];

export interface SiteflowOptions extends InfrastructureOptions {
  /** Where the compiled services and gateway come from (see {@link ServiceLocation}). */
  services?: ServiceLocation;
  /** Extra environment for every part (README "Configuration"), e.g. `{ LOG_LEVEL: 'debug' }`. */
  env?: Record<string, string>;
  /** Extra environment for one part, applied after `env`, e.g. `{ gateway: { PUSH_TIMEOUT_MS: '2000' } }`. */
  partEnv?: Partial<Record<SiteflowPartName, Record<string, string>>>;
  /** How long a part gets to become ready. Default 90 s (a Nest service on a loaded machine may take most of a minute). */
  readyTimeoutMs?: number;
  /** Copy every part's output to stderr, prefixed with its name. Default: when `SITEFLOW_TESTKIT_LOGS=1`. */
  mirrorLogs?: boolean;
  /**
   * Delete every JetStream stream of the NATS before starting. Default: true when the kit started
   * NATS itself, false for a given one. Only turn it on for a NATS used by nothing but tests.
   */
  freshJetStream?: boolean;
}

/** One part of the system, to break on purpose. */
export interface PartHandle {
  readonly name: SiteflowPartName;
  /** The process id, while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly paused: boolean;
  /** The last lines it wrote. */
  logs(): string;
  /** SIGTERM (a clean stop), SIGKILL after the grace; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL (a crash); resolves once it exited. */
  kill(): Promise<void>;
  /** SIGSTOP: the process stays, holds its connections and answers nothing (a stall). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Stops it if it runs, starts it again (the gateway on the same port) and waits until it is ready. */
  restart(): Promise<void>;
  /** Starts it again after stop/kill and waits until it is ready. */
  start(): Promise<void>;
}

export interface Siteflow extends Identities {
  /** `http://127.0.0.1:<port>` of the gateway (web app, `/readyz`, `/api/auth/dev-login`). */
  readonly gatewayUrl: string;
  /** `ws://127.0.0.1:<port>/socket`: what a phoenix `Socket` takes (it appends `/websocket`). */
  readonly socketUrl: string;
  readonly natsUrl: string;
  /** The suite's own database. */
  readonly databaseUrl: string;
  /** Where NATS and Postgres came from, what was tried before, and (with `natsMonitoring`) the started NATS's monitoring endpoint. */
  readonly infrastructure: Pick<Infrastructure, 'sources' | 'notes' | 'natsMonitoringUrl'>;
  /** The kit's own NATS connection (no user: it is the admin side), for requests of your own. */
  readonly nats: NatsConnection;
  /** Handles to each part. */
  readonly parts: Readonly<Record<SiteflowPartName, PartHandle>>;
  part(name: SiteflowPartName): PartHandle;
  /** A realtime client signed in as `user` (a token minted by the kit), its socket open. */
  connect(user: TestUser, opts?: RealtimeOptions & { token?: TokenOptions }): Promise<RealtimeClient>;
  /** Resolves once every part is running and ready (after faults: the whole system is back). */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops the gateway, then the services, then what the kit started (NATS, Postgres); drops the suite's database. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

/**
 * The whole system for one suite: NATS and Postgres (see {@link provideInfrastructure}), the four
 * services and the gateway as processes, an HS256 key of the kit's own so it can mint tokens.
 */
export async function startSiteflow(opts: SiteflowOptions = {}): Promise<Siteflow> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;
  const mirror = opts.mirrorLogs ?? process.env.SITEFLOW_TESTKIT_LOGS === '1';
  // Resolved first: a missing service package fails before anything is started.
  const commands = Object.fromEntries(
    (['gateway', ...SERVICES] as SiteflowPartName[]).map((n) => [n, commandFor(n, opts.services)]),
  ) as Record<SiteflowPartName, ReturnType<typeof commandFor>>;
  const infra = await provideInfrastructure(opts);
  const cleanups: Array<() => Promise<unknown>> = [() => infra.stop()];
  const runCleanups = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const database =
      infra.sources.database === 'env' || infra.sources.database === 'options' ? await createSuiteDatabase(infra.databaseUrl) : undefined;
    if (database) cleanups.push(() => database.drop());
    const databaseUrl = database?.url ?? infra.databaseUrl;
    const nats = await connect({
      ...natsOptionsFromUrl(infra.natsUrl),
      name: 'siteflow-testkit',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5_000,
    });
    cleanups.push(() => nats.close());
    const ownNats = infra.sources.nats === 'container' || infra.sources.nats === 'local';
    if (opts.freshJetStream ?? ownNats) await deleteAllStreams(nats);

    const jwtSecret = randomBytes(36).toString('base64url');
    const gatewayPort = await freePort();
    const suiteId = randomBytes(3).toString('hex');
    const envOf = (name: SiteflowPartName): Record<string, string> => {
      const env: Record<string, string> = {
        ...inheritedEnv(),
        NATS_URL: infra.natsUrl,
        DATABASE_URL: databaseUrl,
        LOG_LEVEL: 'warn',
        SEED_DEMO: 'false',
        INSTANCE_ID: `${name}-${suiteId}`,
      };
      if (name === 'gateway') {
        Object.assign(env, {
          PORT: String(gatewayPort),
          HOST: '127.0.0.1',
          JWT_ALG: 'HS256',
          JWT_SECRET: jwtSecret,
          DEV_LOGIN: 'true',
          // Suites drive sockets harder than people do (lock races, many users per machine).
          FRAMES_PER_SECOND: '2000',
          MAX_CONNECTIONS_PER_USER: '10000',
        });
      }
      return { ...env, ...opts.env, ...opts.partEnv?.[name] };
    };

    const running = new Map<SiteflowPartName, PartProcess>();
    const paused = new Set<SiteflowPartName>();
    let stopping = false;

    const untilReady = async (name: SiteflowPartName, deadline: number) => {
      let last: string;
      for (;;) {
        const part = running.get(name);
        if (!part || part.exited) {
          throw new Error(
            `siteflow ${name} exited before it was ready (code ${part?.child.exitCode ?? '-'}, signal ${part?.child.signalCode ?? '-'}). Last output:\n${part?.tail.text(60) ?? ''}`,
          );
        }
        if (name === 'gateway') {
          try {
            const res = await fetch(`http://127.0.0.1:${gatewayPort}/readyz`, { signal: AbortSignal.timeout(1_000) });
            if (res.status === 200) return;
            last = `GET /readyz answered ${res.status}`;
          } catch (err) {
            last = `GET /readyz failed: ${errorText(err)}`;
          }
        } else {
          const reply = await requestService(nats, subjects.health(name), {}, { timeoutMs: 1_000 });
          const health = reply.ok ? HealthReply.safeParse(reply.data) : undefined;
          if (health?.success && health.data.status === 'ok') return;
          last = reply.ok ? `health: ${JSON.stringify(reply.data)}` : `${reply.error.code}: ${reply.error.message}`;
        }
        if (Date.now() > deadline)
          throw new Error(`siteflow ${name} was not ready within ${readyTimeoutMs} ms (${last}). Last output:\n${part.tail.text(60)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const startPart = async (name: SiteflowPartName) => {
      if (stopping) throw new Error('siteflow was stopped');
      const current = running.get(name);
      if (current && !current.exited) throw new Error(`siteflow ${name} is still running (pid ${current.pid}); stop or kill it first`);
      paused.delete(name);
      const part = PartProcess.spawn(name, commands[name], envOf(name), mirror);
      running.set(name, part);
      part.child.once('exit', (code, signal) => {
        if (part.expectedExit || stopping) return;
        process.stderr.write(
          `[siteflow testkit] ${name} (pid ${part.pid ?? '?'}) exited by itself (code ${code ?? '-'}, signal ${signal ?? '-'}). Last output:\n${part.tail.text(40)}\n`,
        );
      });
      await untilReady(name, Date.now() + readyTimeoutMs);
    };

    const stopPart = async (name: SiteflowPartName, signal: NodeJS.Signals, graceMs = STOP_GRACE_MS) => {
      paused.delete(name);
      await running.get(name)?.stop(signal, graceMs);
    };

    const handle = (name: SiteflowPartName): PartHandle => ({
      name,
      get pid() {
        const p = running.get(name);
        return p && !p.exited ? p.pid : undefined;
      },
      get running() {
        const p = running.get(name);
        return !!p && !p.exited;
      },
      get paused() {
        return paused.has(name);
      },
      logs: () => running.get(name)?.tail.text() ?? '',
      stop: (graceMs) => stopPart(name, 'SIGTERM', graceMs),
      kill: () => stopPart(name, 'SIGKILL'),
      pause() {
        const p = running.get(name);
        if (!p || p.exited) throw new Error(`siteflow ${name} is not running: nothing to pause`);
        p.signal('SIGSTOP');
        paused.add(name);
      },
      resume() {
        running.get(name)?.signal('SIGCONT');
        paused.delete(name);
      },
      async restart() {
        await stopPart(name, 'SIGTERM');
        await startPart(name);
      },
      start: () => startPart(name),
    });

    const stopAll = async () => {
      if (stopping) return;
      stopping = true;
      await stopPart('gateway', 'SIGTERM');
      await Promise.allSettled(SERVICES.map((s) => stopPart(s, 'SIGTERM')));
      await runCleanups();
    };
    cleanups.push(async () => {
      stopping = true;
      await Promise.allSettled([...running.values()].map((p) => p.stop('SIGKILL', 0)));
    });

    // Services first, in parallel: the gateway's readiness asks NATS only, but a join needs them.
    await Promise.all(SERVICES.map(startPart));
    await startPart('gateway');

    const parts = Object.fromEntries((['gateway', ...SERVICES] as SiteflowPartName[]).map((n) => [n, handle(n)])) as Record<
      SiteflowPartName,
      PartHandle
    >;
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const identities = new Identities({ jwtSecret, nats });
    return Object.assign(identities, {
      gatewayUrl,
      socketUrl: `ws://127.0.0.1:${gatewayPort}/socket`,
      natsUrl: infra.natsUrl,
      databaseUrl,
      infrastructure: {
        sources: infra.sources,
        notes: infra.notes,
        ...(infra.natsMonitoringUrl ? { natsMonitoringUrl: infra.natsMonitoringUrl } : {}),
      },
      nats,
      parts,
      part: (name: SiteflowPartName) => parts[name],
      connect: async (user: TestUser, connectOpts: RealtimeOptions & { token?: TokenOptions } = {}) =>
        RealtimeClient.connect(`ws://127.0.0.1:${gatewayPort}/socket`, await identities.token(user, connectOpts.token), connectOpts),
      async ready(timeoutMs = readyTimeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (const name of [...SERVICES, 'gateway'] as SiteflowPartName[]) {
          if (paused.has(name)) throw new Error(`siteflow ${name} is paused: resume it first`);
          await untilReady(name, deadline);
        }
      },
      stop: stopAll,
    });
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

function inheritedEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v;
  return out;
}

async function deleteAllStreams(nats: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nats);
  const names: string[] = [];
  for await (const info of jsm.streams.list()) names.push(info.config.name);
  for (const name of names) await jsm.streams.delete(name).catch(() => undefined);
}
