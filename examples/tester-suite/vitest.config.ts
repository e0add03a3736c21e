import { defineConfig } from 'vitest/config';

// What a tester's own config looks like: the system starts once per file, which takes a while on
// a busy machine, and files run one at a time (each starts a whole system).
export default defineConfig({
  test: {
    include: ['**/*.int.spec.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
