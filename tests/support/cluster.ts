import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Presence, type Channel, type Socket } from 'phoenix';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { ChatMessage, RoomSnapshot } from '@siteflow/contracts';
import { exitOf, freePort, readStackFile, type ProcessExit, type StackFile } from '@siteflow/devstack';
import { connectClient, devLogin, push, REPO_ROOT } from '@siteflow/testing';
import { joinKeepingRejoins } from './join-keeping-rejoins.js';

// Helpers of the cluster tests (tests/cluster.int.spec.ts, tests/cluster-rolling.int.spec.ts).

/**
 * `npm run cluster` (scripts/cluster.mjs, already built: --no-build) on a fresh data directory and
 * free ports: three clustered nats-server nodes, two gateways, two instances of each service.
 * Faults are real: signals sent to the pids its stack.json lists.
 */
export class ClusterRun {
  readonly lines: string[] = [];
  readonly exit: Promise<ProcessExit>;
  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly ports: [number, number],
  ) {
    createInterface({ input: child.stdout! }).on('line', (l) => this.lines.push(l));
    createInterface({ input: child.stderr! }).on('line', (l) => this.lines.push(l));
    this.exit = exitOf(child);
  }

  static async launch(dataDir: string): Promise<ClusterRun> {
    const ports: [number, number] = [await freePort(), await freePort()];
    // Its own NATS and Postgres (never the vitest run's), on ports of its own.
    const dropped = new Set(['NATS_URL', 'DATABASE_URL', 'PORT', 'HOST', 'NATS_PORT', 'NATS_MONITOR_PORT', 'POSTGRES_PORT', 'LOG_FORMAT']);
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.has(name)));
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts', 'cluster.mjs'), '--no-build'], {
      cwd: REPO_ROOT,
      env: { ...inherited, DATA_DIR: dataDir, GATEWAY_PORTS: ports.join(','), LOG_FORMAT: 'json', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    return new ClusterRun(child, dataDir, ports);
  }

  stack(): StackFile {
    return readStackFile(path.join(this.dataDir, 'stack.json'));
  }

  pidOf(name: string): number {
    const entry = this.stack().processes.find((p) => p.name === name);
    if (!entry) throw new Error(`${name} is not in stack.json`);
    return entry.pid;
  }

  output(): string {
    return this.lines.slice(-300).join('\n');
  }

  /** Both gateways answer /readyz?full (every service ready behind each). */
  async waitUntilReady(timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`npm run cluster exited:\n${this.output()}`);
      if (existsSync(path.join(this.dataDir, 'stack.json'))) {
        const ready = await Promise.all(
          this.ports.map((port) =>
            fetch(`http://127.0.0.1:${port}/readyz?full`, { signal: AbortSignal.timeout(2_000) }).then(
              (res) => res.status === 200,
              () => false,
            ),
          ),
        );
        if (ready.every(Boolean)) return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`not ready within ${timeoutMs} ms:\n${this.output()}`);
  }

  async stop(): Promise<ProcessExit> {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, 'SIGTERM');
    return this.exit;
  }

  async destroy(): Promise<void> {
    let pids: number[] = [];
    try {
      const stack = this.stack();
      pids = [stack.supervisorPid, ...stack.processes.map((p) => p.pid)];
    } catch {
      // no stack file
    }
    for (const pid of [this.child.pid, ...pids]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await this.exit;
  }
}

export interface Client {
  username: string;
  port: number;
  socket: Socket;
  channel: Channel;
  snapshot: RoomSnapshot;
  presence: Presence;
}

export async function joinRoom(port: number, username: string): Promise<Client> {
  const socket = await connectClient(`ws://127.0.0.1:${port}/socket`, (await devLogin(`http://127.0.0.1:${port}`, username)).token);
  // A join refused `unavailable` (a service slow to answer while the cluster settles, e.g. after a
  // node was killed) is tried again, as the web app's client does, within one budget. Once joined,
  // a refused rejoin (after the gateway's failover) is left to phoenix, which rejoins again: see
  // joinKeepingRejoins for why @siteflow/testing's joinChannel would leave the channel for good.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const channel = socket.channel('project:1', {});
    const presence = new Presence(channel);
    try {
      const snapshot = await joinKeepingRejoins<RoomSnapshot>(channel, Math.max(1_000, deadline - Date.now()));
      return { username, port, socket, channel, snapshot, presence };
    } catch (err) {
      channel.leave();
      if ((err as { code?: string } | null)?.code !== 'unavailable' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Every chat message of project 1 that `client` can page through (oldest first). */
export async function chatHistory(client: Client): Promise<ChatMessage[]> {
  const all: ChatMessage[] = [];
  let before: string | undefined;
  for (;;) {
    const reply = await push(client.channel, 'chat:history', before === undefined ? { limit: 100 } : { limit: 100, before_id: before });
    if (reply.status !== 'ok') throw new Error(`chat:history ${reply.status}: ${JSON.stringify(reply.response)}`);
    all.unshift(...reply.response.messages);
    // A page is oldest first: the next one ends before its first message (ids are `m_<uuid>`, not numbers).
    const oldest = reply.response.messages[0];
    if (!reply.response.has_more || oldest === undefined) return all;
    before = oldest.id;
  }
}

/** How many instances of each service answer requests now: their request connections (`<service>-rpc:<instance>`) on every NATS node. */
export async function servingInstances(stack: StackFile): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const node of stack.processes.filter((p) => p.role === 'nats')) {
    const res = await fetch(`${node.urls.monitoring ?? ''}/connz?limit=1024`, { signal: AbortSignal.timeout(5_000) });
    const { connections } = (await res.json()) as { connections: Array<{ name?: string }> };
    for (const { name } of connections) {
      const service = /^(\w+)-rpc:/.exec(name ?? '')?.[1];
      if (service) counts[service] = (counts[service] ?? 0) + 1;
    }
  }
  return counts;
}

/** The NATS node (its stack entry) that a process's connection named `name` is connected to, if any. */
export async function nodeServing(stack: StackFile, name: RegExp): Promise<StackFile['processes'][number] | undefined> {
  for (const node of stack.processes.filter((p) => p.role === 'nats')) {
    const res = await fetch(`${node.urls.monitoring ?? ''}/connz?limit=1024`, { signal: AbortSignal.timeout(5_000) });
    const { connections } = (await res.json()) as { connections: Array<{ name?: string }> };
    if (connections.some((c) => name.test(c.name ?? ''))) return node;
  }
  return undefined;
}

/** Resolves once the client's channel is joined (at once when it is), with how long that took; phoenix rejoins by itself. */
export async function untilJoined(client: Client, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  while (client.channel.state !== 'joined') {
    if (Date.now() > deadline)
      throw new Error(`${client.username}@${client.port}: not joined again within ${timeoutMs} ms (${client.channel.state})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

/**
 * The lifecycle of `npm run cluster` in a describe block: started in a fresh directory before its
 * tests (ready: every process up), its warnings and errors printed for a failed test, its clients
 * disconnected and the cluster stopped (killed after 60 s) and its directory removed after them.
 * Returns a getter for the running cluster and the list the tests add their clients to.
 */
export function useCluster(prefix: string): { cluster: () => ClusterRun; clients: Client[] } {
  let dir: string | undefined;
  let started: ClusterRun | undefined;
  const clients: Client[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
    // Under root PostgreSQL runs as the postgres user, which must enter the directory.
    await chmod(dir, 0o755);
    started = await ClusterRun.launch(dir);
    await started.waitUntilReady();
  }, 240_000);
  beforeEach((ctx) => {
    // What the cluster's processes said (warnings and errors: LOG_LEVEL warn), for a failed test.
    ctx.onTestFailed(() => console.log(started?.output() ?? 'the cluster did not start'));
  });
  afterAll(async () => {
    for (const c of clients) c.socket.disconnect();
    if (started) {
      const stopped = await Promise.race([started.stop(), new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
      if (stopped === null) await started.destroy();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 90_000);
  const cluster = (): ClusterRun => {
    if (!started) throw new Error('the cluster did not start');
    return started;
  };
  return { cluster, clients };
}
