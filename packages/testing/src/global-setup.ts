import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { provisionInfra } from './infra.js';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    databaseUrl: string;
  }
}

/** Vitest global setup for the int and e2e tiers: one NATS and one Postgres for the whole run. */
export default async function setup(project: TestProject) {
  const infra = await provisionInfra();
  project.provide('natsUrl', infra.natsUrl);
  project.provide('databaseUrl', infra.databaseUrl);
  return async () => {
    await infra.stop();
  };
}
