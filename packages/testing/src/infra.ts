/**
 * Real NATS and Postgres for the integration and end-to-end tiers.
 * Order (DESIGN, "Running it"): NATS_URL / DATABASE_URL when set; otherwise testcontainers when a
 * container runtime answers; otherwise the same local binaries as `npm start`. With none of these
 * it fails with a clear message; it never skips.
 */
export interface Infra {
  natsUrl: string;
  databaseUrl: string;
  /** Stops whatever this process started (nothing, when the URLs came from the environment). */
  stop(): Promise<void>;
}

export async function provisionInfra(): Promise<Infra> {
  const natsUrl = process.env.NATS_URL;
  const databaseUrl = process.env.DATABASE_URL;
  if (natsUrl && databaseUrl) return { natsUrl, databaseUrl, stop: async () => {} };
  throw new Error('NATS_URL and DATABASE_URL must be set (container and local-binary fallbacks not wired yet)');
}
