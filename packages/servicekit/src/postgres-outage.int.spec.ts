import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Channel, Socket } from 'phoenix';
import { CHAT_RATE_LIMIT, type ChatMessage, type ProjectClientEvent } from '@siteflow/contracts';
import { startEmbeddedPostgres, type LocalServer } from '@siteflow/devstack';
import { requestService } from '@siteflow/messaging';
import {
  assertOk,
  connectClient,
  joinChannel,
  push,
  recordEvents,
  startStack,
  type PushPayload,
  type PushResult,
  type Stack,
  type StackProcessName,
  testNatsUrl,
} from '@siteflow/testing';

/**
 * Postgres dies (SIGKILL of the postmaster) while every service runs its sweeps and the chat
 * service answers a stream of commands, then comes back: no process dies, commands meanwhile are
 * answered `unavailable`, readiness says which part is down, and nothing acknowledged is lost.
 * The stack runs against a Postgres of this file's own, so killing it touches no other test.
 */
describe('Postgres outage under load', () => {
  let dir: string;
  let postgres: LocalServer;
  let port: number;
  let stack: Stack;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'siteflow-pg-outage-'));
    await chmod(dir, 0o755); // PostgreSQL runs as the postgres user when we are root
    // Durable (not `ephemeral`): with synchronous_commit off a killed server loses acknowledged commits.
    postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });
    port = postgres.port;
    stack = await startStack({ natsUrl: testNatsUrl(), databaseUrl: postgres.url, readyTimeoutMs: 90_000 });
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await postgres?.stop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
    await rm(dir, { recursive: true, force: true });
  });

  it('no service process dies, pushes get unavailable while it is down, and every acknowledged message is kept', async () => {
    const pids = Object.fromEntries(
      (['chat', 'documents', 'presence', 'checklist', 'gateway'] as const).map((n) => [n, stack.process(n).pid]),
    );
    const channels: Channel[] = [];
    for (const who of ['alice', 'bob', 'carol']) {
      const socket = await connectClient(stack.socketUrl, (await stack.devLogin(who)).token);
      sockets.push(socket);
      const channel = socket.channel('project:1', {});
      await joinChannel(channel);
      channels.push(channel);
    }
    const received = recordEvents(channels[0]!, 'chat:new_message');

    // Load: per user, a writer posting messages (fewer than the rate limit allows) and a reader
    // typing and paging history, each with its own transactions and checked-out connections.
    const acknowledged: ChatMessage[] = [];
    const outcomes: Array<{ event: string; result: PushResult }> = [];
    let stopLoad = false;
    const record = async <E extends ProjectClientEvent>(channel: Channel, event: E, payload: PushPayload<E>) => {
      const result = await push(channel, event, payload);
      outcomes.push({ event, result });
      return result;
    };
    const writer = async (channel: Channel, user: number) => {
      for (let n = 0; n < CHAT_RATE_LIMIT / 2 && !stopLoad; n++) {
        const r = await record(channel, 'chat:message', { text: `user ${user} message ${n}` });
        if (r.status === 'ok') acknowledged.push(r.response);
      }
    };
    const reader = async (channel: Channel) => {
      while (!stopLoad) {
        await record(channel, 'chat:typing', {});
        await record(channel, 'chat:history', { limit: 20 });
      }
    };
    const load = channels.flatMap((c, i) => [writer(c, i), reader(c), reader(c)]);

    try {
      await expect.poll(() => acknowledged.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(10);

      const killedAt = outcomes.length;
      await killPostgres(path.join(dir, 'pg', 'cluster'));

      // While it is down: pushes are answered, with unavailable.
      await expect
        .poll(() => outcomes.slice(killedAt).filter((o) => o.result.status === 'error').length, { timeout: 20_000 })
        .toBeGreaterThanOrEqual(10);
      const health = await requestService(stack.nats, 'chat.health', {}, { timeoutMs: 3_000 });
      expect(health).toMatchObject({
        ok: false,
        error: { code: 'unavailable', details: { status: 'not_ready', checks: { postgres: 'failing' } } },
      });
      // The gateway can still serve (ready), and says which part is down; ?full says not ready.
      const ready = await fetch(`${stack.gatewayUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        nats: 'ok',
        services: { chat: 'not_ready' },
        problems: { chat: expect.stringContaining('postgres') as string },
      });
      expect((await fetch(`${stack.gatewayUrl}/readyz?full`)).status).toBe(503);

      postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port });
      const restartedAt = outcomes.length;
      await expect
        .poll(() => outcomes.slice(restartedAt).filter((o) => o.event === 'chat:history' && o.result.status === 'ok').length, {
          timeout: 30_000,
        })
        .toBeGreaterThanOrEqual(3);
      // Every service is ready again (each notices on its next health check).
      await expect
        .poll(
          async () => {
            const res = await fetch(`${stack.gatewayUrl}/readyz?full`);
            return { status: res.status, body: (await res.json()) as unknown };
          },
          { timeout: 30_000 },
        )
        .toMatchObject({ status: 200 });
    } finally {
      stopLoad = true;
      await Promise.all(load);
    }

    // Writes work again, and reach the room live (the relay is back too).
    const after = await push(channels[1]!, 'chat:message', { text: 'after the outage' });
    assertOk(after);
    await expect.poll(() => received.events.some((m) => m.id === after.response.id), { timeout: 20_000 }).toBe(true);

    for (const [name, pid] of Object.entries(pids)) {
      const now = stack.process(name as StackProcessName);
      expect({ name, pid: now.pid, running: now.running }).toEqual({ name, pid, running: true });
    }
    const errors = outcomes.filter((o) => o.result.status !== 'ok');
    const codes = new Set(errors.map((o) => (o.result.status === 'error' ? o.result.response.code : 'timeout (no reply)')));
    expect([...codes].filter((c) => c !== 'unavailable')).toEqual([]);

    const db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ message_id: string }>('SELECT message_id FROM chat.messages WHERE message_id = ANY($1)', [
        acknowledged.map((m) => m.id),
      ]);
      expect(rows.map((r) => r.message_id).sort()).toEqual(acknowledged.map((m) => m.id).sort());
    } finally {
      await db.end();
    }
  });
});

/** SIGKILL to the postmaster (a crash); resolves once it and every backend of it are gone. */
async function killPostgres(clusterDir: string): Promise<void> {
  const postmaster = Number((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const children = await childrenOf(postmaster);
  process.kill(postmaster, 'SIGKILL');
  // A new postmaster refuses to start while old backends still hold the shared memory.
  await expect
    .poll(async () => (await Promise.all([postmaster, ...children].map(async (pid) => ((await isAlive(pid)) ? [pid] : [])))).flat(), {
      timeout: 15_000,
    })
    .toEqual([]);
}

async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(entry));
  }
  return out;
}

/** Running, and not a zombie (an orphaned backend waits for whoever is pid 1 to reap it). */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}
