#!/usr/bin/env node
// `npm test`: dependencies, build, then every vitest project (unit, int, e2e). The int and e2e
// tiers get NATS and Postgres from their global setup (NATS_URL/DATABASE_URL, testcontainers, or
// local binaries). Extra arguments go to vitest: `npm test -- --project unit`.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { build, ensureDependencies, ROOT } from './bootstrap.mjs';

const started = Date.now();
ensureDependencies();
build();
// The test files are type-checked too (vitest only strips types).
console.log('> tsc -p tsconfig.tests.json --noEmit');
const typecheck = spawnSync(
  process.execPath,
  [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.tests.json', '--noEmit'],
  { cwd: ROOT, stdio: 'inherit' },
);
if (typecheck.status !== 0) process.exit(typecheck.status ?? 1);

// Formatting and lint are part of the tests: Prettier (.prettierrc.json) and ESLint
// (eslint.config.mjs, typescript-eslint strict type-checked). `npm run format` / `npm run lint`.
for (const [label, bin, args] of [
  ['prettier --check .', path.join('prettier', 'bin', 'prettier.cjs'), ['--check', '--log-level', 'warn', '.']],
  ['eslint .', path.join('eslint', 'bin', 'eslint.js'), ['.']],
]) {
  console.log(`> ${label}`);
  const result = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', bin), ...args], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${label} failed: run \`npm run format\` / \`npm run lint\` and fix what it reports`);
    process.exit(result.status ?? 1);
  }
}

const vitest = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], {
  cwd: ROOT,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => vitest.kill(signal));
}
vitest.on('exit', (code, signal) => {
  console.log(`npm test finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(code ?? (signal ? 1 : 0));
});
