import { provideInfrastructure } from '@siteflow/testkit';

/**
 * Real NATS and Postgres for the integration and end-to-end tiers, from the test kit's
 * `provideInfrastructure` (one way to find them, the one testers get): NATS_URL / DATABASE_URL
 * when set (each on its own); otherwise testcontainers when a container runtime answers;
 * otherwise the same local binaries as `npm start`. With none of these it fails with a clear
 * message; it never skips.
 */
export interface Infra {
  natsUrl: string;
  databaseUrl: string;
  /** The started NATS's monitoring endpoint (`http://host:port`), with `natsMonitoring`. */
  natsMonitoringUrl?: string;
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
  /** Server settings for a Postgres started from local binaries (`-c name=value` each). */
  postgresSettings?: Record<string, string>;
  /** A NATS started here serves its monitoring endpoint too (`natsMonitoringUrl`). */
  natsMonitoring?: boolean;
}

export async function provisionInfra(opts: ProvisionOptions = {}): Promise<Infra> {
  const env = opts.env ?? process.env;
  const infra = await provideInfrastructure({
    processEnv: env,
    ...(opts.containers === false ? { containers: false } : {}),
    ...(opts.runtimeProbeTimeoutMs !== undefined ? { runtimeProbeTimeoutMs: opts.runtimeProbeTimeoutMs } : {}),
    ...(opts.natsServerExecutable ? { natsServerExecutable: opts.natsServerExecutable } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.postgresSettings ? { postgresSettings: opts.postgresSettings } : {}),
    ...(opts.natsMonitoring ? { natsMonitoring: true } : {}),
  });
  const source = (s: (typeof infra.sources)['nats']): InfraSource => (s === 'options' ? 'env' : s);
  const sources = { nats: source(infra.sources.nats), database: source(infra.sources.database) };
  opts.log?.(`infra: NATS ${describe(sources.nats)}, Postgres ${describe(sources.database)}`);
  return {
    natsUrl: infra.natsUrl,
    databaseUrl: infra.databaseUrl,
    ...(infra.natsMonitoringUrl ? { natsMonitoringUrl: infra.natsMonitoringUrl } : {}),
    sources,
    stop: () => infra.stop(),
  };
}

function describe(source: InfraSource): string {
  return source === 'env' ? 'from the environment' : source === 'container' ? 'in a container' : 'from local binaries';
}
