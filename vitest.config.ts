import { defineConfig } from 'vitest/config';

// Test tiers by file suffix. Integration and end-to-end tiers talk to a real NATS and Postgres
// (provided once per run by the global setup) and run one file at a time: each file starts its own
// service processes, and the machine has two cores.
const exclude = ['**/node_modules/**', '**/dist/**', '.data/**'];
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['**/*.unit.spec.ts', '**/*.unit.spec.tsx'],
          exclude,
          environment: 'node',
        },
      },
      {
        test: {
          name: 'int',
          sequence: { groupOrder: 1 },
          include: ['**/*.int.spec.ts'],
          // The cluster tests (tests/cluster*.int.spec.ts: three NATS nodes, two gateways, two of
          // each service) run with `npm run test:cluster`: eleven processes and several minutes,
          // kept out of the suite's 20-minute budget (README, Running in production).
          exclude: process.env.CLUSTER_TESTS === '1' ? exclude : [...exclude, 'tests/cluster*.int.spec.ts'],
          globalSetup: ['packages/testing/dist/global-setup.js'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          sequence: { groupOrder: 2 },
          include: ['**/*.e2e.spec.ts'],
          exclude,
          globalSetup: ['packages/testing/dist/global-setup.js'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
