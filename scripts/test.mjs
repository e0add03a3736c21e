#!/usr/bin/env node
// `npm test`: dependencies, build, then every vitest project (unit, int, e2e). The int and e2e
// tiers get NATS and Postgres from their global setup (NATS_URL/DATABASE_URL, testcontainers, or
// local binaries). Extra arguments go to vitest: `npm test -- --project unit`.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { build, ensureDependencies, ROOT } from './bootstrap.mjs';

const started = Date.now();
ensureDependencies();
build();
// The test files are type-checked too (vitest only strips types), and formatting and lint are part
// of the tests: Prettier (.prettierrc.json) and ESLint (eslint.config.mjs, typescript-eslint strict
// type-checked). ESLint takes most of this (its type-aware rules build the whole program), so it runs
// beside the other two, each one's output printed once it is done. `npm run format` / `npm run lint`.
const checks = [
  [
    ['tsc -p tsconfig.tests.json --noEmit', path.join('typescript', 'bin', 'tsc'), ['-p', 'tsconfig.tests.json', '--noEmit']],
    ['prettier --check .', path.join('prettier', 'bin', 'prettier.cjs'), ['--check', '--log-level', 'warn', '.']],
  ],
  [['eslint .', path.join('eslint', 'bin', 'eslint.js'), ['.']]],
];
const failures = (
  await Promise.all(
    checks.map(async (chain) => {
      for (const [label, bin, args] of chain) {
        const { code, output } = await runCaptured(path.join(ROOT, 'node_modules', bin), args);
        console.log(`> ${label}`);
        if (output) process.stdout.write(output);
        if (code !== 0) return label;
      }
      return null;
    }),
  )
).filter((label) => label !== null);
if (failures.length > 0) {
  console.error(`${failures.join(', ')} failed: fix what it reports (\`npm run format\` / \`npm run lint\` for the last two)`);
  process.exit(1);
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

/** Runs a node script to its end, its stdout and stderr kept together in one string. */
function runCaptured(script, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('error', (err) => resolve({ code: 1, output: `${String(err)}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output: Buffer.concat(chunks).toString('utf8') }));
  });
}
