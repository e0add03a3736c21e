import type { TestProject } from 'vitest/node';
import { provisionInfra, type Infra } from './infra.js';
import type {} from './provided-context.js';

// The int and e2e projects both name this setup; vitest may load it once per project. The run
// still gets ONE NATS and ONE Postgres: the first setup provisions, the last teardown stops.
const SHARED = Symbol.for('siteflow.testing.infra');
interface SharedInfra {
  infra: Promise<Infra>;
  users: number;
}
type GlobalWithInfra = typeof globalThis & { [SHARED]?: SharedInfra };

/** Vitest global setup for the int and e2e tiers: one NATS and one Postgres for the whole run. */
export default async function setup(project: TestProject) {
  const g = globalThis as GlobalWithInfra;
  const shared = (g[SHARED] ??= {
    infra: provisionInfra({ log: (m) => process.stderr.write(`${m}\n`) }),
    users: 0,
  });
  shared.users++;
  let infra: Infra;
  try {
    infra = await shared.infra;
  } catch (err) {
    shared.users--;
    if (g[SHARED] === shared) Reflect.deleteProperty(g, SHARED);
    throw err;
  }
  project.provide('natsUrl', infra.natsUrl);
  project.provide('databaseUrl', infra.databaseUrl);
  return async () => {
    shared.users--;
    if (shared.users > 0) return;
    if (g[SHARED] === shared) Reflect.deleteProperty(g, SHARED);
    await infra.stop();
  };
}
