import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { pino } from 'pino';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { PublishedEvent } from '@siteflow/contracts';
import { createTestDatabase, type TestDatabase, testNatsUrl } from '@siteflow/testing';
import { createEventStore, type EventStore, type NewEvent, type RecordedEvent } from '../index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/** Silent unless TEST_LOG_LEVEL is set (e.g. `TEST_LOG_LEVEL=debug`). */
export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A fresh database for one test file; every pool and NATS connection made through it is closed by `close()`. */
export async function openTestEnv() {
  const db: TestDatabase = await createTestDatabase(inject('databaseUrl'), 'sf_eventstore');
  const pools: pg.Pool[] = [];
  const connections: NatsConnection[] = [];
  const streams: string[] = [];
  const env = {
    db,
    natsUrl: testNatsUrl(),
    newPool(max = 10): pg.Pool {
      const pool = new pg.Pool({ connectionString: db.url, max });
      pools.push(pool);
      return pool;
    },
    async natsConnection(): Promise<NatsConnection> {
      const nc = await connect({ servers: env.natsUrl });
      connections.push(nc);
      return nc;
    },
    /** A JetStream stream of this test alone (deleted by close()). */
    newStream(tag: string) {
      const id = `${tag}_${randomBytes(4).toString('hex')}`;
      const prefix = `es_test_${id}`;
      const stream = { name: `ES_TEST_${id.toUpperCase()}`, subjects: [`${prefix}.>`] };
      streams.push(stream.name);
      const subjectFor = (e: RecordedEvent) => `${prefix}.project.${e.projectId ?? 0}.ev.${e.type}`;
      return { stream, subjectFor, prefix };
    },
    async close(): Promise<void> {
      if (connections[0]) {
        const jsm = await jetstreamManager(connections[0]);
        for (const name of streams) await jsm.streams.delete(name).catch(() => false);
      }
      await Promise.all(connections.map((nc) => nc.close()));
      await Promise.all(pools.map((p) => p.end()));
      // pool.end() resolves once its clients were told to end, not once they are gone; a forced
      // DROP DATABASE meanwhile would make a closing client emit an unhandled error.
      await waitForNoConnections(inject('databaseUrl'), db.name);
      await db.drop();
    },
  };
  return env;
}

export type TestEnv = Awaited<ReturnType<typeof openTestEnv>>;

/**
 * {@link openTestEnv} for the tests of a file (or describe block): opened before all of them,
 * closed after them. Returns a getter, as the env exists only once `beforeAll` ran (the pattern
 * of useTestPool in packages/testing, whose database lifecycle this one adds NATS to).
 */
export function useTestEnv(): () => TestEnv {
  let env: TestEnv | undefined;
  beforeAll(async () => {
    env = await openTestEnv();
  });
  afterAll(async () => {
    await env?.close();
    env = undefined;
  });
  return () => {
    if (!env) throw new Error('the test env is not open (used outside the tests of the block that called useTestEnv?)');
    return env;
  };
}

/**
 * {@link useTestEnv} and an event store migrated in `schema` before the tests, on a pool of
 * `poolSize` connections (closed with the env): the setup of a spec of the store itself.
 */
export function useMigratedStore(schema: string, poolSize: number): { env: () => TestEnv; store: () => EventStore } {
  const env = useTestEnv();
  let store: EventStore | undefined;
  beforeAll(async () => {
    store = createEventStore({ pool: env().newPool(poolSize), schema });
    await store.migrate();
  });
  return {
    env,
    store: () => {
      if (!store)
        throw new Error(`the ${schema} store is not migrated (used outside the tests of the block that called useMigratedStore?)`);
      return store;
    },
  };
}

async function waitForNoConnections(adminUrl: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await eventually(
      async () =>
        (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database])).rows[0]!.n,
      (n) => n === 0,
      2000,
    );
  } finally {
    await admin.end();
  }
}

export interface StreamMessage {
  subject: string;
  msgId: string | undefined;
  event: PublishedEvent;
}

/**
 * Everything in a JetStream stream, in the stream's own order: each message read by its sequence
 * number (a consumer could only say in what order it delivered them).
 */
export async function readJetStream(nc: NatsConnection, streamName: string): Promise<StreamMessage[]> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(streamName);
  if (state.messages === 0) return [];
  const out: StreamMessage[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(streamName, { seq });
    if (!m) continue; // deleted
    out.push({ subject: m.subject, msgId: m.header.get('Nats-Msg-Id') || undefined, event: PublishedEvent.parse(m.json()) });
  }
  return out;
}

export function newEvents(count: number, type = 'ThingHappened', projectId: number | null = 7): NewEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    type,
    data: { n: i },
    projectId,
    broadcast: { event: 'thing:happened', payload: { n: i } },
  }));
}

/** Polls `read` until `done` holds (other sessions on the shared server may briefly hold the xmin back). */
export async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
