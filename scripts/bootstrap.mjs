// Shared by `npm start` and `npm test`: dependencies installed and the workspace built, using only
// Node built-ins (it runs before any dependency exists).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

function mtimeMs(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Runs a command in the repository root with inherited output; exits this process when it fails. */
export function run(command, args, opts = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', ...opts });
  if (result.error) {
    console.error(`${command} ${args.join(' ')} could not run: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed (${result.signal ?? `exit ${result.status}`})`);
    process.exit(result.status ?? 1);
  }
}

/**
 * `npm ci` when node_modules is missing or older than package-lock.json (`npm install` when there
 * is no lock file). npm writes node_modules/.package-lock.json last, so its time is the install's.
 */
export function ensureDependencies() {
  const lock = path.join(ROOT, 'package-lock.json');
  const installed = mtimeMs(path.join(ROOT, 'node_modules', '.package-lock.json')) ?? mtimeMs(path.join(ROOT, 'node_modules'));
  const locked = mtimeMs(lock);
  if (installed !== undefined && (locked === undefined || installed >= locked)) return false;
  const args = locked === undefined ? ['install'] : ['ci'];
  console.log(`> npm ${args.join(' ')} (${installed === undefined ? 'no node_modules yet' : 'package-lock.json changed'})`);
  run('npm', args);
  return true;
}

/** TypeScript project build (incremental), then the web app when its sources changed. */
export function build() {
  console.log('> tsc -b tsconfig.build.json');
  run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.build.json']);
  buildWeb();
}

function buildWeb() {
  const manifest = path.join(ROOT, 'web', 'package.json');
  if (!existsSync(manifest)) return;
  const scripts = JSON.parse(readFileSync(manifest, 'utf8')).scripts ?? {};
  if (!scripts.build) return;
  const built = mtimeMs(path.join(ROOT, 'web', 'dist', 'index.html'));
  const inputs = [path.join(ROOT, 'web'), path.join(ROOT, 'packages', 'contracts', 'src')];
  if (built !== undefined && newestMtime(inputs, new Set(['node_modules', 'dist'])) <= built) {
    console.log('> web build is up to date');
    return;
  }
  console.log('> npm run build -w web');
  run('npm', ['run', 'build', '-w', 'web']);
}

function newestMtime(paths, skip) {
  let newest = 0;
  const visit = (p) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    newest = Math.max(newest, st.mtimeMs);
    if (!st.isDirectory()) return;
    for (const entry of readdirSync(p)) if (!skip.has(entry)) visit(path.join(p, entry));
  };
  for (const p of paths) visit(p);
  return newest;
}
