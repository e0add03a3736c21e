import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNatsServer, type NatsServer } from '@siteflow/devstack';
import { provisionInfra, type Infra } from './infra.js';
import type {} from './provided-context.js';

// The int and e2e projects both name this setup; vitest may load it once per project. The run
// still gets ONE Postgres and ONE first NATS: the first setup provisions, the last teardown stops.
// A project whose files run in parallel gets one more nats-server per extra worker; each running
// file leases one (testNatsUrl).
const SHARED = Symbol.for('siteflow.testing.infra');
interface SharedInfra {
  infra: Promise<Infra>;
  /** nats-servers beyond the first, started for parallel workers (grown by the project that needs most). */
  extraNats: Promise<NatsServer[]>;
  /** Where test files lease their NATS (testNatsUrl): one lock file per server while a file holds it. */
  leaseDir: Promise<string>;
  users: number;
}
type GlobalWithInfra = typeof globalThis & { [SHARED]?: SharedInfra };

/** How many files of this project may run at once (vitest's maxWorkers: 1 without file parallelism). */
function parallelWorkers(project: TestProject): number {
  const workers = project.config.maxWorkers;
  return Number.isInteger(workers) && workers > 1 ? workers : 1;
}

async function startExtraNats(count: number, have: NatsServer[]): Promise<NatsServer[]> {
  const started = [...have];
  while (started.length < count) {
    const dir = await mkdtemp(path.join(tmpdir(), 'siteflow-test-nats-'));
    const server = await startNatsServer({ dataDir: dir });
    started.push({
      ...server,
      stop: async () => {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    });
  }
  return started;
}

/** Vitest global setup for the int and e2e tiers: one Postgres, and one NATS per parallel worker. */
export default async function setup(project: TestProject) {
  const g = globalThis as GlobalWithInfra;
  const shared = (g[SHARED] ??= {
    infra: provisionInfra({ log: (m) => process.stderr.write(`${m}\n`) }),
    extraNats: Promise.resolve([]),
    leaseDir: mkdtemp(path.join(tmpdir(), 'siteflow-test-nats-leases-')),
    users: 0,
  });
  shared.users++;
  const workers = parallelWorkers(project);
  const previous = shared.extraNats;
  shared.extraNats = previous.then((have) => startExtraNats(workers - 1, have));
  let infra: Infra;
  let extra: NatsServer[];
  let leaseDir: string;
  try {
    [infra, extra, leaseDir] = await Promise.all([shared.infra, shared.extraNats, shared.leaseDir]);
  } catch (err) {
    shared.users--;
    if (g[SHARED] === shared) Reflect.deleteProperty(g, SHARED);
    throw err;
  }
  project.provide('natsUrls', [infra.natsUrl, ...extra.slice(0, workers - 1).map((s) => s.url)]);
  project.provide('natsLeaseDir', leaseDir);
  project.provide('databaseUrl', infra.databaseUrl);
  return async () => {
    shared.users--;
    if (shared.users > 0) return;
    if (g[SHARED] === shared) Reflect.deleteProperty(g, SHARED);
    const all = await shared.extraNats.catch(() => extra);
    await Promise.allSettled(all.map((s) => s.stop()));
    await rm(leaseDir, { recursive: true, force: true });
    await infra.stop();
  };
}
