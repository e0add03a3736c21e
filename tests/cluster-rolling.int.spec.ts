import { randomUUID } from 'node:crypto';
import type { Push } from 'phoenix';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '@siteflow/contracts';
import { push } from '@siteflow/testing';
import { chatHistory, joinRoom, nodeServing, servingInstances, untilJoined, useCluster, type Client } from './support/cluster.js';

/**
 * A rolling restart of `npm run cluster` (issue 17), as a platform's rolling deploy does it: every
 * process of the project, one at a time, is sent SIGTERM (the supervisor starts it again, 0.5 s
 * after it exits) and the next one only once the restarted one is ready. Meanwhile clients on both
 * gateways write chat messages and toggle a checklist item, each write retried with its
 * idempotency key when refused. Postgres is not restarted: it is one server, not a replica set.
 */

/** The order: the services' instances, then the gateways, then the NATS nodes. */
const ORDER = [
  'chat-1',
  'chat-2',
  'documents-1',
  'documents-2',
  'presence-1',
  'presence-2',
  'checklist-1',
  'checklist-2',
  'gateway-1',
  'gateway-2',
  'nats-1',
  'nats-2',
  'nats-3',
];

/**
 * Allowance after a process is seen gone (its pid polled every 20 ms) for NATS and the other
 * processes to learn it: a request asked in that moment was still sent to it.
 */
const SEEN_GONE_MS = 250;

interface Restart {
  name: string;
  oldPid: number;
  newPid: number;
  /** When SIGTERM was sent. */
  sigtermAt: number;
  /** When the old pid was gone: SIGTERM plus its drain. */
  exitedAt: number;
  /** When the new process was ready (see `untilReady`). */
  readyAt: number;
}

/** One request a client made: a push (`chat:message`, `checklist:toggle`) or a rejoin the gateway refused. */
interface Attempt {
  client: string;
  event: string;
  at: number;
  ended: number;
  status: 'ok' | 'error' | 'timeout';
  code?: string | undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `condition` until it holds; resolves with the time it did. */
async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return Date.now();
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const answers200 = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    (res) => res.status === 200,
    () => false,
  );

describe('npm run cluster: a rolling restart of every process, one at a time (SIGTERM)', () => {
  const { cluster, clients } = useCluster('sf-cluster-rolling-');

  it('under chat writes and checklist toggles on both gateways: no acknowledged write lost or doubled, errors only for requests in flight at a stopping process', async () => {
    const [gw1, gw2] = cluster().ports;
    await expect
      .poll(() => servingInstances(cluster().stack()), { timeout: 120_000, interval: 1_000 })
      .toEqual({ chat: 2, documents: 2, presence: 2, checklist: 2 });
    const users = await Promise.all([joinRoom(gw1, 'alice'), joinRoom(gw2, 'bob'), joinRoom(gw1, 'carol'), joinRoom(gw2, 'carol')]);
    clients.push(...users);
    const item = users[0].snapshot.checklist.items[0];
    if (!item) throw new Error('the demo project has no checklist item');

    const attempts: Attempt[] = [];
    const acknowledged = new Map<string, ChatMessage>();
    let toggles = 0;
    const state = { stop: false };
    const failures: unknown[] = [];
    // A refused rejoin (phoenix rejoins by itself after its socket reconnects) is an error a client sees too.
    for (const client of users) {
      const joinPush = (client.channel as unknown as { joinPush: Push }).joinPush;
      let askedAt = Date.now();
      client.channel.onError(() => {
        askedAt = Date.now();
      });
      joinPush.receive('error', (response: { code?: string } | undefined) => {
        attempts.push({
          client: `${client.username}@${client.port}`,
          event: 'phx_join (rejoin)',
          at: askedAt,
          ended: Date.now(),
          status: 'error',
          code: response?.code,
        });
      });
    }

    /** Pushes until answered ok, the same payload (and idempotency key) each time, as the web app's retry does. */
    const write = async (client: Client, event: string, payload: object): Promise<unknown> => {
      for (let attempt = 0; ; attempt++) {
        // As the web app: no push while the channel rejoins (phoenix would only buffer it).
        await untilJoined(client, 120_000);
        const at = Date.now();
        const reply = await push(client.channel, event, payload, 15_000);
        attempts.push({
          client: `${client.username}@${client.port}`,
          event,
          at,
          ended: Date.now(),
          status: reply.status,
          code: reply.status === 'error' ? reply.response.code : undefined,
        });
        if (reply.status === 'ok') return reply.response;
        if (attempt > 100)
          throw new Error(`${event} ${JSON.stringify(payload)}: still not answered ok after ${attempt} attempts: ${JSON.stringify(reply)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const loops = users.flatMap((client, n) => [
      (async () => {
        // Chat takes at most CHAT_RATE_LIMIT (60) messages a minute from a user: each user's
        // clients together write at most 48 (carol has one on each gateway).
        const interval = 1_250 * users.filter((u) => u.username === client.username).length;
        for (let i = 0; !state.stop; i++) {
          const next = Date.now() + interval;
          const text = `rolling ${client.username}@${client.port}/${n} #${i} ${randomUUID().slice(0, 8)}`;
          const message = (await write(client, 'chat:message', { text, idempotency_key: randomUUID() })) as ChatMessage;
          acknowledged.set(text, message);
          await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
        }
      })(),
      (async () => {
        for (let i = 0; !state.stop; i++) {
          await write(client, 'checklist:toggle', { item_id: item.id, checked: i % 2 === 0, idempotency_key: randomUUID() });
          toggles++;
        }
      })(),
    ]);
    for (const loop of loops)
      loop.catch((err: unknown) => {
        failures.push(err);
        state.stop = true;
      });

    /** Resolves once the restarted `name` (pid `pid`) serves: a service's request connection on a NATS node, a gateway's /readyz with its clients joined again, a NATS node's /healthz (JetStream current). */
    const untilReady = async (name: string, pid: number): Promise<number> => {
      const entry = cluster()
        .stack()
        .processes.find((p) => p.name === name);
      if (!entry) throw new Error(`${name} is not in stack.json`);
      if (entry.role === 'service') {
        const service = name.replace(/-\d+$/, '');
        const connection = new RegExp(`^${service}-rpc:.*-${pid}$`);
        return until(
          `${name} (pid ${pid}) connected to NATS`,
          async () => (await nodeServing(cluster().stack(), connection)) !== undefined,
          60_000,
        );
      }
      if (entry.role === 'gateway') {
        const port = cluster().ports[Number(name.slice('gateway-'.length)) - 1];
        await until(`${name} /readyz`, () => answers200(`http://127.0.0.1:${port}/readyz`), 60_000);
        for (const client of users.filter((c) => c.port === port)) await untilJoined(client, 60_000);
        return Date.now();
      }
      return until(`${name} /healthz`, () => answers200(`${entry.urls.monitoring ?? ''}/healthz`), 60_000);
    };

    // Traffic first, then the restarts; after each, some traffic on the new shape before the next.
    await until('first writes', () => acknowledged.size >= 20 || state.stop, 60_000);
    const restarts: Restart[] = [];
    for (const name of ORDER) {
      if (state.stop) break;
      const oldPid = cluster().pidOf(name);
      const sigtermAt = Date.now();
      process.kill(oldPid, 'SIGTERM');
      const exitedAt = await until(`${name} (pid ${oldPid}) exits after SIGTERM`, () => !alive(oldPid), 30_000, 20);
      let newPid = oldPid;
      await until(
        `${name} started again`,
        () => {
          newPid = cluster().pidOf(name);
          return newPid !== oldPid;
        },
        30_000,
      );
      const readyAt = await untilReady(name, newPid);
      restarts.push({ name, oldPid, newPid, sigtermAt, exitedAt, readyAt });
      const before = acknowledged.size;
      await until(`writes after ${name}'s restart`, () => acknowledged.size >= before + 6 || state.stop, 60_000);
    }
    state.stop = true;
    await Promise.allSettled(loops);
    expect(failures).toEqual([]);
    expect(restarts.map((r) => r.name)).toEqual(ORDER);

    const t0 = restarts[0]!.sigtermAt;
    console.log(
      [
        'process      SIGTERM  exited (drain)   ready (after exit)   [ms since the first SIGTERM]',
        ...restarts.map(
          (r) =>
            `${r.name.padEnd(12)} ${String(r.sigtermAt - t0).padStart(7)}  ${String(r.exitedAt - t0).padStart(6)} (${String(r.exitedAt - r.sigtermAt).padStart(5)})  ${String(r.readyAt - t0).padStart(6)} (${String(r.readyAt - r.exitedAt).padStart(5)})   pid ${r.oldPid} -> ${r.newPid}`,
        ),
      ].join('\n'),
    );

    // "In flight at a stopping process P": asked before P was gone (its SIGTERM plus its drain,
    // exitedAt, plus SEEN_GONE_MS for NATS and the other processes to see it go) and answered (or
    // timed out) after P's SIGTERM. Any error a client saw outside every such window (a push
    // refused or unanswered, a rejoin refused) is a failure: asked after P had gone, it should
    // have been served by P's replica, its restarted self or another NATS node.
    const windowOf = (a: Attempt) => restarts.find((r) => a.at <= r.exitedAt + SEEN_GONE_MS && a.ended >= r.sigtermAt)?.name;
    const errors = attempts.filter((a) => a.status !== 'ok');
    const explain = (a: Attempt) =>
      `${a.client} ${a.event} ${a.status}${a.code ? ` (${a.code})` : ''} asked at ${a.at - t0} ms, answered at ${a.ended - t0} ms${windowOf(a) ? `: in flight at ${windowOf(a)}` : ''}`;
    console.log(
      `rolling restart of ${restarts.length} processes: ${attempts.length} requests (${acknowledged.size} chat messages and ${toggles} checklist toggles acknowledged), ${errors.length} errors seen by clients${errors.length ? `:\n  ${errors.map(explain).join('\n  ')}` : ''}`,
    );
    expect(errors.filter((a) => windowOf(a) === undefined).map(explain)).toEqual([]);
    // Every push is answered, but those in flight on a stopping gateway's sockets: its drain closes
    // every socket (1001) at once, with no reply for the pushes it is still serving, and their
    // client times out. A stopping service or NATS node is answered for by the gateway
    // (`unavailable`, `timeout` from the service request).
    expect(
      errors.filter((a) => a.status === 'timeout' && !windowOf(a)?.startsWith('gateway-')).map(explain),
      'pushes unanswered though no gateway was stopping',
    ).toEqual([]);

    // Both gateways hold the same room: every acknowledged message once, as acknowledged, nothing else of ours.
    const [reader1, reader2] = await Promise.all([joinRoom(gw1, 'alice'), joinRoom(gw2, 'bob')]);
    clients.push(reader1, reader2);
    const [history1, history2] = await Promise.all([chatHistory(reader1), chatHistory(reader2)]);
    expect(history2.map((m) => [m.id, m.text])).toEqual(history1.map((m) => [m.id, m.text]));
    const ours = history1.filter((m) => m.text.startsWith('rolling '));
    expect(ours.length, 'messages stored (every one acknowledged once)').toBe(acknowledged.size);
    for (const [text, message] of acknowledged)
      expect(
        ours.filter((m) => m.text === text).map((m) => m.id),
        `${text}: stored once, as acknowledged`,
      ).toEqual([message.id]);
    expect(reader2.snapshot.checklist).toEqual(reader1.snapshot.checklist);
  }, 900_000);
});
