import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exitOf, hasExited, stopChild, stopOnProcessExit, waitForOutput } from './child-processes.js';
import type { LocalServer } from './local-server.js';
import { OutputTail } from './output-tail.js';
import { canConnect, freePort } from './ports.js';

export interface NatsServerOptions {
  /** JetStream store directory (created when missing). */
  dataDir: string;
  /** Default: a free port. */
  port?: number;
  /** Default: `nats-server` from PATH (or /usr/sbin, where Debian installs it). */
  executable?: string;
  readyTimeoutMs?: number;
  /**
   * A config file the server includes, e.g. the shipped infra/nats/auth.conf: its users and
   * permissions then apply (the returned URL carries no credentials).
   */
  include?: string;
  /** Extra environment of the server process, e.g. the passwords an included config names as `$VAR`. */
  env?: Record<string, string>;
  /** Serve the HTTP monitoring endpoints (/connz, /jsz, …) on a free port too. Default false. */
  monitoring?: boolean;
  /** The monitoring port (implies `monitoring`); a server started again keeps its ports. */
  monitorPort?: number;
  /**
   * Run in a process group of its own, so a Ctrl-C at the terminal reaches only the owner, which
   * stops the server after the processes that use it. Default false.
   */
  detached?: boolean;
  /** One node of a cluster over loopback routes (JetStream clustered: streams may have replicas). */
  cluster?: NatsClusterNode;
}

/** Where a clustered node listens for routes, and the other nodes' route ports. */
export interface NatsClusterNode {
  /** The cluster's name (the same on every node). */
  name: string;
  /** This node's name, unique in the cluster and kept across restarts (JetStream knows peers by it). */
  serverName: string;
  routePort: number;
  /** Route ports of the other nodes on 127.0.0.1. */
  peers: number[];
}

/** A local nats-server; `monitorUrl` when started with `monitoring`. */
export interface NatsServer extends LocalServer {
  monitorUrl?: string;
}

export const NATS_SERVER_MISSING =
  'nats-server was not found on PATH. Get one of: `apt-get install nats-server` (Debian/Ubuntu), ' +
  'a release binary from https://github.com/nats-io/nats-server/releases put on PATH, ' +
  'or set NATS_URL to a running nats-server with JetStream enabled (-js).';

// Debian installs nats-server into /usr/sbin, which is not on every user's PATH.
const FALLBACK_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The absolute path of an executable `name` on `searchPath` (then the sbin fallbacks), if any. */
export function findExecutable(
  name: string,
  searchPath: string = process.env.PATH ?? '',
  fallbackDirs: readonly string[] = FALLBACK_DIRS,
): string | undefined {
  const dirs = [...searchPath.split(path.delimiter).filter(Boolean), ...fallbackDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The generated config at `configFile`. nats-server resolves an `include` relative to the including
 * file's directory (2.9 joins even an absolute path onto it), so the path is written relative.
 */
export function natsServerConfig(configFile: string, include?: string, cluster?: NatsClusterNode): string {
  // A saved document (up to 512 KiB) travels in one event, and text heavy in JSON escapes doubles in
  // it: allow messages of up to 4 MB, as infra/nats/nats.conf does (the server's default is 1 MB).
  const lines = ['max_payload: 4MB'];
  if (cluster) {
    const routes = cluster.peers.map((port) => JSON.stringify(`nats-route://127.0.0.1:${port}`)).join(', ');
    lines.push(
      `server_name: ${JSON.stringify(cluster.serverName)}`,
      `cluster { name: ${JSON.stringify(cluster.name)}, listen: "127.0.0.1:${cluster.routePort}", routes: [${routes}] }`,
    );
  }
  if (include !== undefined) {
    const relative = path
      .relative(path.dirname(path.resolve(configFile)), path.resolve(include))
      .split(path.sep)
      .join('/');
    lines.push(`include ${JSON.stringify(relative)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Runs `nats-server` with JetStream (store in `dataDir`) on 127.0.0.1 and a free port, and
 * resolves once it accepts connections.
 */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServer> {
  const executable = opts.executable ?? findExecutable('nats-server');
  if (!executable) throw new Error(NATS_SERVER_MISSING);
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true });
  const host = '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const tail = new OutputTail();
  const configFile = path.join(dataDir, 'siteflow-nats.conf');
  await writeFile(configFile, natsServerConfig(configFile, opts.include, opts.cluster));
  const monitorPort = opts.monitorPort ?? (opts.monitoring ? await freePort(host) : undefined);
  const args = ['-c', configFile, '-a', host, '-p', String(port), '-js', '-sd', dataDir];
  if (monitorPort !== undefined) args.push('-m', String(monitorPort));
  const child = spawn(executable, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
  });
  child.stdout.on('data', (c: Buffer) => tail.write(c));
  child.stderr.on('data', (c: Buffer) => tail.write(c));
  stopOnProcessExit(child, 'SIGTERM');
  const exited = exitOf(child);

  const stop = () => stopChild(child, { signal: 'SIGTERM', graceMs: 5_000 });
  try {
    await waitForOutput(child, tail, 'Server is ready', opts.readyTimeoutMs ?? 15_000).catch((err: unknown) => {
      throw new Error(`nats-server (${executable}) ${err instanceof Error ? err.message : String(err)}. Output:\n${tail.text(40)}`);
    });
    if (!(await canConnect(port, host, 2_000)) || hasExited(child)) {
      throw new Error(`nats-server reported ready but 127.0.0.1:${port} does not accept connections. Output:\n${tail.text(40)}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `nats://${host}:${port}`,
    port,
    pid: child.pid ?? 0,
    exited,
    ...(monitorPort === undefined ? {} : { monitorUrl: `http://${host}:${monitorPort}` }),
    logs: () => tail.text(),
    stop,
  };
}
