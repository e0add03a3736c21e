import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@siteflow/contracts';
import { exitOf, planNatsCluster, startNatsServer, type NatsServer, type ProcessExit } from '@siteflow/devstack';
import { requestService } from '@siteflow/messaging';
import { createTestDatabase, REPO_ROOT, type TestDatabase } from '@siteflow/testing';
import { PresenceBucket } from './bucket/presence-bucket.js';

/**
 * `npm run cluster` starts its services as soon as the NATS nodes run, and a 3-replica stream (the
 * outbox's) or bucket (presence's) cannot be created before the nodes have elected a JetStream
 * meta leader and know each other: JetStream answers with timeouts, 10008 or "no suitable peers".
 * The presence service (a relay's stream and the presence bucket, both with three replicas) is
 * started against the first node of three while the others are still down: it waits, saying what
 * for, and serves once they are up, instead of exiting.
 */

let db: TestDatabase;
let dir: string;
const servers: NatsServer[] = [];
let presence: { child: ChildProcess; lines: string[]; exit: Promise<ProcessExit> } | undefined;
let nc: NatsConnection | undefined;

beforeAll(async () => {
  db = await createTestDatabase(inject('databaseUrl'), 'sf_presence_forming');
  dir = await mkdtemp(path.join(tmpdir(), 'sf-presence-forming-'));
});

afterAll(async () => {
  if (presence && presence.child.exitCode === null && presence.child.signalCode === null) {
    presence.child.kill('SIGKILL');
    await presence.exit;
  }
  await nc?.close();
  await Promise.all(servers.map((s) => s.stop()));
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning it
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('presence booting while the NATS cluster forms', () => {
  it('waits for JetStream, saying so, and serves with its stream and bucket on three replicas once the nodes are up', async () => {
    const nodes = await planNatsCluster(3);
    const start = async (i: number) => {
      const node = nodes[i]!;
      servers.push(await startNatsServer({ dataDir: path.join(dir, node.name), port: node.port, cluster: node.cluster }));
    };
    await start(0);
    const natsUrl = nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');

    const instance = 'presence-forming-1';
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'services', 'presence', 'dist', 'main.js')], {
      cwd: path.join(REPO_ROOT, 'services', 'presence'),
      env: { ...process.env, NATS_URL: natsUrl, DATABASE_URL: db.url, INSTANCE_ID: instance, LOG_LEVEL: 'info', JETSTREAM_REPLICAS: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
    presence = { child, lines, exit: exitOf(child) };
    const running = () => child.exitCode === null && child.signalCode === null;
    const output = () => lines.slice(-40).join('\n');

    // Only one node of three: no meta leader. Before the fix the service exited here (a timeout).
    await until(
      () => !running() || lines.some((l) => l.includes('waiting for JetStream: creating or checking the stream EVENTS_PRESENCE')),
      60_000,
      () => `presence did not say it waits for JetStream:\n${output()}`,
    );
    expect(running(), `presence exited instead of waiting:\n${output()}`).toBe(true);

    await Promise.all([start(1), start(2)]);
    nc = await connect({ servers: natsUrl.split(','), name: 'presence-forming-test' });
    const conn = nc;
    let answeredBy: string | undefined;
    const deadline = Date.now() + 120_000;
    while (answeredBy !== instance) {
      expect(running(), `presence exited:\n${output()}`).toBe(true);
      if (Date.now() > deadline) throw new Error(`presence did not answer its health subject:\n${output()}`);
      const reply = await requestService<{ instance?: string }>(conn, subjects.health('presence'), {}, { timeoutMs: 1_000 });
      answeredBy = reply.ok ? reply.data.instance : undefined;
      if (answeredBy !== instance) await new Promise((r) => setTimeout(r, 250));
    }

    const jsm = await jetstreamManager(conn);
    expect((await jsm.streams.info('EVENTS_PRESENCE')).config.num_replicas).toBe(3);
    expect((await jsm.streams.info(PresenceBucket.streamName)).config.num_replicas).toBe(3);
    expect(lines.filter((l) => /"level":(50|60)/.test(l)).map((l) => JSON.parse(l) as { msg: string })).toEqual([]);
  }, 240_000);
});
