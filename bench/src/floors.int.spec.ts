import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, testNatsUrl, type TestDatabase } from '@siteflow/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startBrokeredFloors } from './brokered.js';
import { PhxClient, type Wire } from './phx-client.js';
import { nextMessage } from './util.js';

/**
 * The room scenario's floors do what the bench says they do: a push is stored in Postgres before
 * every joined socket of its topic (the sender too) receives its broadcast, and nobody else does;
 * the reply carries the stored row's id. The durable floor in one process, the brokered floors
 * (front → NATS → service → Postgres, one or two round trips) in three.
 */
const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Undefined until beforeAll got that far: afterAll stops what was started.
let db: TestDatabase | undefined;
let pool: pg.Pool | undefined;
let floor: ChildProcess | undefined;
let brokered: Awaited<ReturnType<typeof startBrokeredFloors>> | undefined;
const ports: Record<string, number> = {};
const clients: PhxClient[] = [];

beforeAll(async () => {
  const created = await createTestDatabase(inject('databaseUrl'));
  db = created;
  pool = new pg.Pool({ connectionString: created.url, max: 2 });
  const started = fork(path.join(BENCH, 'dist', 'floor-server.js'), { env: { ...process.env, PORT: '0', DATABASE_URL: created.url } });
  floor = started;
  ports.floor = (await nextMessage<{ port: number }>(started, (m) => typeof m.port === 'number')).port;
  const floors = await startBrokeredFloors(testNatsUrl(), created.url);
  brokered = floors;
  Object.assign(ports, floors.ports);
});

afterAll(async () => {
  for (const c of clients) c.close();
  floor?.kill();
  brokered?.kill();
  await pool?.end();
  await db?.drop();
});

const connect = async (target: string) => {
  const c = await PhxClient.connect(`ws://127.0.0.1:${ports[target]}/socket`, 'unused');
  clients.push(c);
  return c;
};
/** Every broadcast a client receives, as [topic, event, payload]. */
const heard = (c: PhxClient) => {
  const got: Array<[string, string, Wire]> = [];
  c.onEvent = (topic, event, payload) => got.push([topic, event, payload]);
  return got;
};
const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe.each([
  ['floor', 'bench_floor'],
  ['brokered', 'bench_brokered'],
  ['brokered-tx', 'bench_brokered'],
])('the %s', (target, schema) => {
  it('stores a push, then broadcasts it to every socket joined to its topic and no other; the reply has the row id', async () => {
    const [alice, bob, other] = [await connect(target), await connect(target), await connect(target)];
    const topic = `project:${target}`;
    await alice.join(topic);
    await bob.join(topic);
    await other.join(`${topic}-elsewhere`);
    const [toAlice, toBob, toOther] = [heard(alice), heard(bob), heard(other)];

    const text = `hello from alice #${target.replace('-', '')}1`;
    const reply = await alice.push(topic, 'chat:message', { text });
    expect(reply.status).toBe('ok');
    const id = (reply.response as { id: number }).id;
    expect(id).toBeGreaterThan(0);
    const { rows } = await pool!.query<{ topic: string; event: string; body: string }>(
      `SELECT topic, event, body FROM ${schema}.messages WHERE id = $1`,
      [id],
    );
    expect(rows).toEqual([{ topic, event: 'chat:message', body: text }]);
    await until(() => toAlice.length > 0 && toBob.length > 0, 'the broadcast');
    expect(toAlice).toEqual([[topic, 'chat:new_message', { id, text }]]);
    expect(toBob).toEqual([[topic, 'chat:new_message', { id, text }]]);

    const content = `# Notes\n\nsaved #${target.replace('-', '')}2\n`;
    const saved = await bob.push(topic, 'document:save', { document_id: 1, content, base_version: 1 });
    expect(saved.status).toBe('ok');
    await until(() => toAlice.length > 1, 'the save');
    expect(toAlice[1]).toEqual([topic, 'document:updated', { id: (saved.response as { id: number }).id, content }]);
    expect(toOther).toEqual([]);
  });
});
