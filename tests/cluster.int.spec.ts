import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import type { Channel } from 'phoenix';
import type { ChatMessage, ProjectClientEvent } from '@siteflow/contracts';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import { push, type PushPayload } from '@siteflow/testing';
import { chatHistory, joinRoom, nodeServing, servingInstances, untilJoined, useCluster, type Client } from './support/cluster.js';

/**
 * `npm run cluster` (scripts/cluster.mjs, already built: --no-build) on a fresh data directory and
 * free ports: three clustered nats-server nodes, two gateways, two instances of each service.
 * Faults are real: kill -9 by the pids its stack.json lists. (The rolling restart of every process
 * is tests/cluster-rolling.int.spec.ts; the helpers both use are in tests/support/cluster.ts.)
 */

const online = (client: Client) =>
  client.presence
    .list((_id, { metas }: { metas: Array<{ username?: string }> }) => metas[0]?.username ?? '')
    .sort()
    .join(',');

/**
 * Moves the leadership of `stream` to the NATS node named `node` (asking its leader to step down
 * until the election lands there), so a kill of that node also costs the stream its leader.
 */
async function moveStreamLeader(natsUrl: string, stream: string, node: string): Promise<void> {
  const nc = await connect({ ...natsOptionsFromUrl(natsUrl), name: 'cluster-test' });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const leader = (await jsm.streams.info(stream)).cluster?.leader;
      if (leader === node) return;
      if (Date.now() > deadline) throw new Error(`${stream}'s leader is still ${leader ?? 'none'}, not ${node}`);
      if (leader !== undefined)
        await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 5_000 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await nc.close();
  }
}

function kill9(pid: number): void {
  process.kill(pid, 'SIGKILL');
}

describe('npm run cluster: three NATS nodes, two gateways, two instances of each service', () => {
  const { cluster, clients } = useCluster('sf-cluster-');

  it('lists every process with its role and URLs, and the NATS nodes with client and monitoring URLs', () => {
    const stack = cluster().stack();
    const names = stack.processes.map((p) => p.name).sort();
    expect(names).toEqual(
      [
        'chat-1',
        'chat-2',
        'checklist-1',
        'checklist-2',
        'documents-1',
        'documents-2',
        'gateway-1',
        'gateway-2',
        'nats-1',
        'nats-2',
        'nats-3',
        'postgres',
        'presence-1',
        'presence-2',
      ].sort(),
    );
    const nodes = stack.processes.filter((p) => p.role === 'nats');
    for (const node of nodes) {
      expect(node.urls.nats).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(node.urls.monitoring).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    expect(stack.natsUrl.split(',').sort()).toEqual(nodes.map((n) => n.urls.nats).sort());
    expect(stack.processes.filter((p) => p.role === 'gateway').map((p) => p.urls.http)).toEqual(
      cluster().ports.map((port) => `http://localhost:${port}`),
    );
  });

  it('the presence bucket and every stream have 3 replicas, all current', async () => {
    const nc = await connect({ ...natsOptionsFromUrl(cluster().stack().natsUrl), name: 'cluster-test' });
    try {
      const jsm = await jetstreamManager(nc);
      const names = ['KV_presence', 'EVENTS_CHAT', 'EVENTS_DOCUMENTS', 'EVENTS_PRESENCE', 'EVENTS_CHECKLIST'];
      /** Each stream as its replicas report it: its replica count, leader, and each follower's name and whether it is current. */
      const replication = async () => {
        const found: Record<string, { replicas: number; leader: string | undefined; followers: string[] }> = {};
        for await (const info of jsm.streams.list()) {
          if (!names.includes(info.config.name)) continue;
          found[info.config.name] = {
            replicas: info.config.num_replicas,
            leader: info.cluster?.leader,
            followers: (info.cluster?.replicas ?? []).map((r) => `${r.name}${r.current ? '' : ' (not current)'}`),
          };
        }
        return found;
      };
      // A follower catches up with its leader on its own schedule (the services have just written
      // to the streams): wait for the condition, not a fixed time.
      const allCurrent = (found: Awaited<ReturnType<typeof replication>>) =>
        names.every((name) => {
          const s = found[name];
          return (
            s?.replicas === 3 &&
            s.leader !== undefined &&
            s.followers.length === 2 &&
            s.followers.every((f) => !f.endsWith('(not current)'))
          );
        });
      let last = await replication();
      const deadline = Date.now() + 60_000;
      while (!allCurrent(last) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        last = await replication();
      }
      for (const name of names) {
        const s = last[name];
        expect(s?.replicas, `${name} num_replicas`).toBe(3);
        expect(s?.leader, `${name} has a leader`).toBeTruthy();
        expect(s?.followers, `${name}: two current followers`).toHaveLength(2);
        expect(
          s?.followers.filter((f) => f.endsWith('(not current)')),
          `${name}: followers not current after 60 s`,
        ).toEqual([]);
      }
    } finally {
      await nc.close();
    }
  });

  it('users on different gateways share one room: presence, chat, locks and the checklist', async () => {
    const [gw1, gw2] = cluster().ports;
    const alice = await joinRoom(gw1, 'alice');
    const bob = await joinRoom(gw2, 'bob');
    clients.push(alice, bob);
    await expect.poll(() => online(alice), { timeout: 20_000 }).toBe('alice,bob');
    await expect.poll(() => online(bob), { timeout: 20_000 }).toBe('alice,bob');

    const text = `across gateways ${randomUUID()}`;
    const seenByBob = new Promise<ChatMessage>((resolve) =>
      bob.channel.on('chat:new_message', (m: ChatMessage) => {
        if (m.text === text) resolve(m);
      }),
    );
    expect((await push(alice.channel, 'chat:message', { text })).status).toBe('ok');
    expect((await seenByBob).text).toBe(text);

    const document = alice.snapshot.documents[0];
    expect(document).toBeDefined();
    const lockSeen = new Promise<unknown>((resolve) => bob.channel.on('document:locked', resolve));
    const locked = await push(alice.channel, 'document:start_editing', { document_id: document!.id });
    expect(locked.status, JSON.stringify(locked.response)).toBe('ok');
    await lockSeen;
    const refused = await push(bob.channel, 'document:start_editing', { document_id: document!.id });
    expect(refused).toMatchObject({ status: 'error', response: { code: 'locked' } });
    expect((await push(alice.channel, 'document:stop_editing', { document_id: document!.id })).status).toBe('ok');

    const item = bob.snapshot.checklist.items[0];
    expect(item).toBeDefined();
    const checked = !item!.checked;
    const toggleSeen = new Promise<unknown>((resolve) =>
      alice.channel.on('checklist:updated', (p: { item_id: unknown; checked: boolean }) => {
        if (p.item_id === item!.id && p.checked === checked) resolve(p);
      }),
    );
    const toggled = await push(bob.channel, 'checklist:toggle', { item_id: item!.id, checked });
    expect(toggled.status, JSON.stringify(toggled.response)).toBe('ok');
    await toggleSeen;

    bob.socket.disconnect();
    clients.splice(clients.indexOf(bob), 1);
    await expect.poll(() => online(alice), { timeout: 20_000 }).toBe('alice');
    alice.socket.disconnect();
    clients.splice(clients.indexOf(alice), 1);
  }, 120_000);

  it('kill -9 of one NATS node under chat load: no acknowledged write lost or doubled, every push answered, both gateways agree', async () => {
    const [gw1, gw2] = cluster().ports;
    const writers = await Promise.all(['alice', 'bob', 'carol'].flatMap((u) => [joinRoom(gw1, u), joinRoom(gw2, u)]));
    clients.push(...writers);
    const acknowledged = new Map<string, ChatMessage>();
    const unanswered: string[] = [];
    let errorsRetried = 0;
    let rejoinWaitMs = 0;
    const perWriter = 8;
    let sent = 0;
    let killedAt = 0;
    // The node gateway-1 is connected to: its failover (every join on it voided and rejoined, with
    // pushes in flight) is the hard case, and the one a random node would reach only now and then.
    const stack = cluster().stack();
    const gateway1 = cluster().pidOf('gateway-1');
    const victim = await nodeServing(stack, new RegExp(`^gateway:.*-${gateway1}$`));
    if (!victim) throw new Error(`gateway-1 (pid ${gateway1}) has no NATS connection on any node`);
    // ...and the presence bucket's leader: every rejoin then waits for the bucket's new leader.
    await moveStreamLeader(stack.natsUrl, 'KV_presence', victim.name);

    const write = async (client: Client, i: number) => {
      const text = `${client.username}@${client.port} #${i} ${randomUUID().slice(0, 8)}`;
      const key = randomUUID();
      for (let attempt = 0; ; attempt++) {
        // Like the web app, which refuses to push while its channel rejoins (useChannel's push), a
        // writer waits until its channel is joined again: a push phoenix buffers meanwhile never
        // reaches the gateway, so no gateway could answer it.
        rejoinWaitMs = Math.max(rejoinWaitMs, await untilJoined(client));
        const reply = await push(client.channel, 'chat:message', { text, idempotency_key: key }, 15_000);
        if (reply.status === 'timeout') {
          unanswered.push(`${text} (asked ${killedAt ? Date.now() - 15_000 - killedAt : 'before'} ms after the kill)`);
          return;
        }
        if (reply.status === 'ok') {
          acknowledged.set(text, reply.response);
          return;
        }
        // Refused during failover (or a rejoin the gateway asked for): the same key again.
        errorsRetried++;
        if (attempt > 40) throw new Error(`${text}: still refused: ${JSON.stringify(reply.response)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await Promise.all(
      writers.map(async (client) => {
        for (let i = 0; i < perWriter; i++) {
          await write(client, i);
          if (++sent === (writers.length * perWriter) / 3) {
            killedAt = Date.now();
            kill9(victim.pid);
          }
        }
      }),
    );
    expect(unanswered).toEqual([]);
    expect(acknowledged.size).toBe(writers.length * perWriter);

    // The supervisor brings the node back (same name, same store); the room is read on both gateways.
    await expect.poll(() => cluster().pidOf(victim.name) !== victim.pid, { timeout: 30_000 }).toBe(true);
    const [reader1, reader2] = await Promise.all([joinRoom(gw1, 'alice'), joinRoom(gw2, 'bob')]);
    clients.push(reader1, reader2);
    const [history1, history2] = await Promise.all([chatHistory(reader1), chatHistory(reader2)]);
    for (const [text, message] of acknowledged) {
      const copies = history1.filter((m) => m.text === text);
      expect(
        copies.map((m) => m.id),
        `${text}: stored once, as acknowledged`,
      ).toEqual([message.id]);
    }
    expect(history2.map((m) => [m.id, m.text])).toEqual(history1.map((m) => [m.id, m.text]));
    const [snap1, snap2] = [reader1.snapshot, reader2.snapshot];
    expect(snap2.checklist).toEqual(snap1.checklist);
    expect(snap2.documents).toEqual(snap1.documents);
    console.log(
      `NATS node kill (${victim.name}: gateway-1's node and the presence bucket's leader): ${acknowledged.size} acknowledged, ${errorsRetried} refusals retried with the same key, 0 lost, 0 doubled; a writer waited at most ${rejoinWaitMs} ms for its channel to rejoin`,
    );
  }, 240_000);

  it('kill -9 of one instance of each service: only requests in flight there fail, and the rest of the room carries on', async () => {
    const [gw1, gw2] = cluster().ports;
    // Both instances of each service serve (one may still be booting after an earlier restart:
    // killing the other then would leave none), before the test starts.
    await expect
      .poll(() => servingInstances(cluster().stack()), { timeout: 120_000, interval: 1_000 })
      .toEqual({ chat: 2, documents: 2, presence: 2, checklist: 2 });
    const users = await Promise.all([joinRoom(gw1, 'carol'), joinRoom(gw2, 'carol')]);
    clients.push(...users);
    const item = users[0].snapshot.checklist.items[0]!;
    const document = users[0].snapshot.documents[0]!;
    // Each a push typed from its event (a list of [event, payload] pairs would reach push as a
    // union, which it types as a push the contracts do not describe).
    const request = <E extends ProjectClientEvent>(event: E, payload: PushPayload<E>) => ({
      event,
      send: (channel: Channel) => push(channel, event, payload, 15_000),
    });
    const requests = [
      request('chat:history', { limit: 5 }),
      request('document:get', { document_id: document.id }),
      request('checklist:toggle', { item_id: item.id, checked: true }),
    ];
    let stop = false;
    const outcomes: Array<{ at: number; ended: number; event: string; status: string; code?: string }> = [];
    const loops = users.flatMap((client) =>
      requests.map(async ({ event, send }) => {
        while (!stop) {
          const at = Date.now();
          const reply = await send(client.channel);
          outcomes.push({
            at,
            ended: Date.now(),
            event,
            status: reply.status,
            code: reply.status === 'error' ? reply.response.code : undefined,
          });
        }
      }),
    );
    // Some traffic first, then one instance of each service dies at once.
    await expect.poll(() => outcomes.length, { timeout: 30_000 }).toBeGreaterThan(30);
    const killedAt = Date.now();
    for (const name of ['chat-1', 'documents-1', 'presence-1', 'checklist-1']) kill9(cluster().pidOf(name));
    const countAtKill = outcomes.length;
    await expect.poll(() => outcomes.length - countAtKill, { timeout: 60_000 }).toBeGreaterThan(60);
    // Presence on the surviving instance: a new join is tracked and seen by the others.
    const late = await joinRoom(gw2, 'alice');
    clients.push(late);
    await expect.poll(() => online(users[0]), { timeout: 20_000 }).toContain('alice');
    stop = true;
    await Promise.all(loops);

    const failed = outcomes.filter((o) => o.status !== 'ok');
    expect(failed.filter((o) => o.status === 'timeout')).toEqual([]);
    // Each loop has one request in flight at a time: at most one failure per loop, and only one
    // that was asked before NATS saw the instance go (the kernel closes a killed process's socket
    // at once; the server drops its subscriptions a moment later: a 250 ms allowance).
    expect(failed.length).toBeLessThanOrEqual(loops.length);
    for (const f of failed)
      expect(f.at, `${f.event} failed (${f.code}, answered after ${f.ended - f.at} ms) but was asked after the kill`).toBeLessThanOrEqual(
        killedAt + 250,
      );
    console.log(`service instances killed: ${outcomes.length} requests, ${failed.length} failed (in flight at the kill)`);
  }, 180_000);
});
