import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { planNatsCluster, startNatsServer, type NatsClusterNodePlan, type NatsServer } from '@siteflow/devstack';
import { createEventStore, JetStreamNotReadyError, startOutboxRelay, type EventStore } from './index.js';
import { newEvents, useTestEnv } from './test-fixtures/harness.js';

/**
 * The relay ensures its stream at boot. On a NATS cluster still forming (no meta leader yet, not
 * every peer known) JetStream answers "not yet" (timeouts, 10008, no suitable peers): the relay
 * waits for it, saying so, within a bound; a stream JetStream refuses fails the boot at once.
 * Real nats-server nodes, started one at a time.
 */

const env = useTestEnv();
let dir: string;
const servers: NatsServer[] = [];
const connections: NatsConnection[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sf-js-ready-'));
});
afterEach(async () => {
  await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startNode(node: NatsClusterNodePlan, tag: string): Promise<NatsServer> {
  const server = await startNatsServer({ dataDir: path.join(dir, `${tag}-${node.name}`), port: node.port, cluster: node.cluster });
  servers.push(server);
  return server;
}

async function connectTo(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, name: 'jetstream-ready-test' });
  connections.push(nc);
  return nc;
}

async function migratedStore(schema: string): Promise<EventStore> {
  const store = createEventStore({ pool: env().newPool(5), schema });
  await store.migrate();
  return store;
}

/** A logger whose lines the test reads. */
function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the outbox relay on a JetStream cluster still forming', () => {
  it('waits for the meta leader and the peers, saying so, then creates its 3-replica stream and publishes', async () => {
    const nodes = await planNatsCluster(3);
    const first = await startNode(nodes[0]!, 'forming');
    const nc = await connectTo(first.url);
    const store = await migratedStore('relay_forming');
    const { stream, subjectFor } = env().newStream('forming');
    const { logger, lines } = recordingLogger();

    let settled: 'started' | Error | null = null;
    const starting = startOutboxRelay({ store, nats: nc, logger, stream, subjectFor, streamLimits: { replicas: 3 } });
    starting.then(
      () => (settled = 'started'),
      (err: unknown) => (settled = err instanceof Error ? err : new Error(String(err))),
    );
    // One node of three: no meta leader, so JetStream cannot answer yet.
    await until(
      () =>
        settled !== null || lines.some((l) => l.msg.startsWith(`waiting for JetStream: creating or checking the stream ${stream.name}`)),
      30_000,
      'the relay did not say it waits for JetStream',
    );
    expect(settled).toBeNull();

    await Promise.all([startNode(nodes[1]!, 'forming'), startNode(nodes[2]!, 'forming')]);
    const relay = await starting;
    expect(relay.isLeader).toBe(true);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(stream.name)).config.num_replicas).toBe(3);
    expect(lines.map((l) => l.msg)).toContainEqual(
      expect.stringMatching(new RegExp(`^JetStream ready: creating or checking the stream ${stream.name} succeeded`)),
    );

    await store.transaction((tx) => tx.append('thing-1', newEvents(2), { expectedVersion: 'any' }));
    await relay.flush(30_000);
    expect((await jsm.streams.info(stream.name)).state.messages).toBe(2);
    await relay.stop();
  }, 120_000);

  it('gives up after its bound with an error that names the stream and what JetStream answered', async () => {
    const nodes = await planNatsCluster(3);
    const lone = await startNode(nodes[0]!, 'lone');
    const nc = await connectTo(lone.url);
    const store = await migratedStore('relay_lone');
    const { stream, subjectFor } = env().newStream('lone');
    const { logger } = recordingLogger();

    const started = Date.now();
    const err: unknown = await startOutboxRelay({
      store,
      nats: nc,
      logger,
      stream,
      subjectFor,
      streamLimits: { replicas: 3 },
      jetStreamReadyTimeoutMs: 4_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JetStreamNotReadyError);
    expect((err as Error).message).toMatch(
      new RegExp(`^JetStream was not ready within \\d+ s: creating or checking the stream ${stream.name} kept failing \\(`),
    );
    // The bound plus at most one JetStream request timeout (5 s) in flight when it ran out.
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 60_000);

  it('fails at once on a stream JetStream refuses: subjects another stream holds', async () => {
    const nc = await env().natsConnection();
    const store = await migratedStore('relay_refused');
    const taken = env().newStream('taken');
    await (await jetstreamManager(nc)).streams.add({ name: taken.stream.name, subjects: taken.stream.subjects });
    const { stream, subjectFor } = env().newStream('refused');
    const { logger, lines } = recordingLogger();

    const started = Date.now();
    const err: unknown = await startOutboxRelay({
      store,
      nats: nc,
      logger,
      stream: { name: stream.name, subjects: taken.stream.subjects },
      subjectFor,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JetStreamApiError);
    expect((err as JetStreamApiError).code).toBe(10065); // subjects overlap with an existing stream
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines.filter((l) => l.msg.startsWith('waiting for JetStream'))).toEqual([]);
  });
});
