#!/usr/bin/env node
// What one more gateway or one more instance of each service buys, measured on this machine
// (README "Running in production"). Runs `npm run cluster` (built already: --no-build) in each
// shape in turn — 1 gateway / 1 instance each, 2 gateways / 1 instance, 1 gateway / 2 instances,
// 2 gateways / 2 instances, always three clustered NATS nodes with 3 replicas — and drives it with
// a closed loop of CLIENTS sockets (split evenly over the gateways), all in project 1, each
// pushing one command at a time for DURATION_S seconds: `checklist:toggle` (a write, fanned out to
// every socket in the room), `chat:history` and `document:get` (reads) in turn. Prints completed
// commands per second, fan-out deliveries per second and the ratios to the first shape.
//
//   node scripts/cluster-throughput.mjs [--clients 48] [--duration 20] [--shapes 1x1,2x1,1x2,2x2]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { ROOT } from './bootstrap.mjs';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '48' },
    duration: { type: 'string', default: '20' },
    shapes: { type: 'string', default: '1x1,2x1,1x2,2x2' },
  },
});
const CLIENTS = Number(values.clients);
const DURATION_MS = Number(values.duration) * 1000;
const SHAPES = values.shapes.split(',').map((s) => {
  const [gateways, instances] = s.split('x').map(Number);
  return { name: s, gateways, instances };
});
const USERS = ['alice', 'bob', 'carol'];

const { freePort } = await import('@siteflow/devstack');

async function startCluster(shape) {
  const dir = await mkdtemp(path.join(tmpdir(), 'sf-throughput-'));
  await chmod(dir, 0o755); // Postgres runs as another user under root
  const ports = [];
  for (let i = 0; i < shape.gateways; i++) ports.push(await freePort());
  const dropped = new Set(['NATS_URL', 'DATABASE_URL', 'PORT', 'NATS_PORT', 'NATS_MONITOR_PORT', 'POSTGRES_PORT']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.has(name)));
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'cluster.mjs'), '--no-build'], {
    cwd: ROOT,
    env: {
      ...env,
      DATA_DIR: dir,
      GATEWAY_PORTS: ports.join(','),
      SERVICE_INSTANCES: String(shape.instances),
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      MAX_CONNECTIONS_PER_USER: String(CLIENTS),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm run cluster exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('the cluster was not ready within 240 s');
    if (existsSync(path.join(dir, 'stack.json'))) {
      const ready = await Promise.all(
        ports.map((p) =>
          fetch(`http://127.0.0.1:${p}/readyz?full`, { signal: AbortSignal.timeout(2_000) }).then(
            (r) => r.status === 200,
            () => false,
          ),
        ),
      );
      if (ready.every(Boolean)) break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    ports,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function login(port, username) {
  const res = await fetch(`http://127.0.0.1:${port}/api/auth/dev-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username }),
  });
  if (res.status !== 200) throw new Error(`dev-login ${res.status}`);
  return (await res.json()).token;
}

function pushed(channel, event, payload) {
  return new Promise((resolve) => {
    channel
      .push(event, payload, 15_000)
      .receive('ok', (response) => resolve({ status: 'ok', response }))
      .receive('error', (response) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout' }));
  });
}

async function client(port, username) {
  const socket = new Socket(`ws://127.0.0.1:${port}/socket`, { params: { token: await login(port, username) }, transport: WebSocket });
  socket.connect();
  const channel = socket.channel('project:1', {});
  const snapshot = await new Promise((resolve, reject) => {
    channel
      .join(20_000)
      .receive('ok', resolve)
      .receive('error', reject)
      .receive('timeout', () => reject(new Error('join timeout')));
  });
  let deliveries = 0;
  channel.on('checklist:updated', () => deliveries++);
  return { socket, channel, snapshot, deliveries: () => deliveries };
}

async function measure(shape) {
  const cluster = await startCluster(shape);
  try {
    const clients = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(await client(cluster.ports[i % cluster.ports.length], USERS[i % USERS.length]));
    const items = clients[0].snapshot.checklist.items.map((i) => i.id);
    const documentId = clients[0].snapshot.documents[0].id;
    const commands = [
      () => ['checklist:toggle', { item_id: items[Math.floor(Math.random() * items.length)], checked: Math.random() < 0.5 }],
      () => ['chat:history', { limit: 20 }],
      () => ['document:get', { document_id: documentId }],
    ];
    // Warm up for a few seconds, then count.
    let counting = false;
    let stop = false;
    const counts = { ok: 0, error: 0, timeout: 0 };
    const latencies = [];
    const loops = clients.map(async (c, n) => {
      for (let i = n; !stop; i++) {
        const [event, payload] = commands[i % commands.length]();
        const began = performance.now();
        const reply = await pushed(c.channel, event, payload);
        if (!counting) continue;
        counts[reply.status]++;
        if (reply.status === 'ok') latencies.push(performance.now() - began);
      }
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const deliveredBefore = clients.reduce((n, c) => n + c.deliveries(), 0);
    counting = true;
    const began = Date.now();
    await new Promise((r) => setTimeout(r, DURATION_MS));
    counting = false;
    const seconds = (Date.now() - began) / 1000;
    const delivered = clients.reduce((n, c) => n + c.deliveries(), 0) - deliveredBefore;
    stop = true;
    await Promise.all(loops);
    for (const c of clients) c.socket.disconnect();
    latencies.sort((a, b) => a - b);
    const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(1) ?? '-';
    return { ...shape, perSecond: counts.ok / seconds, deliveriesPerSecond: delivered / seconds, counts, p50: p(0.5), p99: p(0.99) };
  } finally {
    await cluster.stop();
  }
}

const results = [];
for (const shape of SHAPES) {
  process.stderr.write(`measuring ${shape.gateways} gateway(s), ${shape.instances} instance(s) of each service …\n`);
  results.push(await measure(shape));
}
const base = results[0];
console.log(
  `\n${new Date().toISOString()} · ${cpus().length} cores ${cpus()[0]?.model ?? ''} · Node ${process.version} · ${CLIENTS} clients, ${DURATION_MS / 1000} s each, 3 NATS nodes (3 replicas)\n`,
);
console.log(
  '| gateways | instances of each service | commands/s | vs first | fan-out deliveries/s | push → reply p50 / p99 ms | errors | timeouts |',
);
console.log('|---:|---:|---:|---:|---:|---|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.gateways} | ${r.instances} | ${r.perSecond.toFixed(0)} | ${(r.perSecond / base.perSecond).toFixed(2)} | ${r.deliveriesPerSecond.toFixed(0)} | ${r.p50} / ${r.p99} | ${r.counts.error} | ${r.counts.timeout} |`,
  );
}
process.exit(0);
