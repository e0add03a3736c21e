import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presenceSubjects, projectClientEvents, type RoomSnapshot } from '@siteflow/contracts';
import { parseExposition, rawSocket, useStack, valueOf, type RawSocket, type StackProcess } from '@siteflow/testing';

/** A port free now (the process given it binds it moments later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const services = ['chat', 'documents', 'presence', 'checklist'] as const;

describe('metrics scraped from the running processes', () => {
  const ports: Record<string, number> = {};
  const webDist = mkdtempSync(path.join(os.tmpdir(), 'sf-metrics-web-'));
  mkdirSync(path.join(webDist, 'assets'));
  writeFileSync(path.join(webDist, 'index.html'), '<!doctype html><title>siteflow app</title>');
  writeFileSync(path.join(webDist, 'assets', 'app-abc123.js'), 'console.log(1)');
  const stack = useStack(async () => {
    for (const s of [...services, 'chat-2']) ports[s] = await freePort();
    return {
      processEnv: {
        gateway: { WEB_DIST: webDist },
        ...Object.fromEntries(services.map((s) => [s, { METRICS_PORT: String(ports[s]) }])),
        // A lock not renewed lapses within seconds, so the test sees an expiry.
        documents: { METRICS_PORT: String(ports.documents), LOCK_LEASE_MS: '4000', LOCK_SWEEP_MS: '250' },
      },
    };
  });
  const sockets: RawSocket[] = [];
  let seq = 0;
  const ref = () => String(++seq);

  afterAll(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    rmSync(webDist, { recursive: true, force: true });
  });

  const scrape = async (url: string): Promise<string> => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const gatewayMetrics = async () => parseExposition(await scrape(`${stack().gatewayUrl}/metrics`));
  const serviceMetricsText = (port: number) => scrape(`http://127.0.0.1:${port}/metrics`);
  const serviceMetrics = async (port: number) => parseExposition(await serviceMetricsText(port));

  const joined = async (username: string, socketUrl = stack().socketUrl) => {
    const { token } = await stack().devLogin(username);
    const s = await rawSocket(socketUrl, token);
    sockets.push(s);
    const j = ref();
    s.send([j, j, 'project:1', 'phx_join', {}]);
    const reply = await s.next((f) => f[1] === j && f[3] === 'phx_reply', 30_000);
    expect((reply[4] as { status: string }).status).toBe('ok');
    const push = async (event: string, payload: object) => {
      const r = ref();
      s.send([j, r, 'project:1', event, payload]);
      return (await s.next((f) => f[1] === r && f[3] === 'phx_reply', 30_000))[4] as { status: string; response: unknown };
    };
    return { s, token, push, snapshot: (reply[4] as { response: RoomSnapshot }).response };
  };

  it('/metrics is the metrics, a path naming a file is a 404, and client routes still get the app', async () => {
    const text = await scrape(`${stack().gatewayUrl}/metrics`);
    expect(text).toContain('# TYPE siteflow_gateway_open_sockets gauge');
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    for (const file of ['/nope.js', '/favicon.ico', '/assets/missing-123.js', '/projects/1/app.css.map']) {
      const res = await fetch(`${stack().gatewayUrl}${file}`);
      expect(res.status, file).toBe(404);
      expect(await res.text()).not.toContain('siteflow app');
    }
    for (const route of ['/', '/projects/1', '/projects/1/documents/3']) {
      const res = await fetch(`${stack().gatewayUrl}${route}`);
      expect(res.status, route).toBe(200);
      expect(await res.text(), route).toContain('siteflow app');
    }
    expect((await fetch(`${stack().gatewayUrl}/assets/app-abc123.js`)).status).toBe(200);
    // A service's metrics port serves /metrics only.
    expect((await fetch(`http://127.0.0.1:${ports.chat}/nope.js`)).status).toBe(404);
    expect(await serviceMetricsText(ports.chat!)).toContain('process_cpu_user_seconds_total');
  });

  it('a push moves the gateway push counter and histogram, the service command histogram, deliveries; joins, sockets, rooms, presence and locks show', async () => {
    const chatSubject = projectClientEvents['chat:message'].subject;
    const okPush = { event: 'chat:message', outcome: 'ok' };
    const gwBefore = await gatewayMetrics();
    const chatBefore = await serviceMetrics(ports.chat!);

    const bob = await joined('bob');
    const carol = await joined('carol');
    expect((await bob.push('chat:message', { text: 'counted' })).status).toBe('ok');
    await carol.s.next((f) => f[3] === 'chat:new_message' && (f[4] as { text?: unknown }).text === 'counted', 15_000);
    // An invalid push is counted under its error code.
    expect((await bob.push('chat:message', { text: 42 })).status).toBe('error');

    const gw = await gatewayMetrics();
    expect(valueOf(gw, 'siteflow_gateway_pushes_total', okPush) - valueOf(gwBefore, 'siteflow_gateway_pushes_total', okPush)).toBe(1);
    expect(
      valueOf(gw, 'siteflow_gateway_push_duration_seconds_count', okPush) -
        valueOf(gwBefore, 'siteflow_gateway_push_duration_seconds_count', okPush),
    ).toBe(1);
    expect(valueOf(gw, 'siteflow_gateway_push_duration_seconds_sum', okPush)).toBeGreaterThan(
      valueOf(gwBefore, 'siteflow_gateway_push_duration_seconds_sum', okPush),
    );
    expect(valueOf(gw, 'siteflow_gateway_push_duration_seconds_bucket', { ...okPush, le: '+Inf' })).toBe(
      valueOf(gw, 'siteflow_gateway_pushes_total', okPush),
    );
    expect(valueOf(gw, 'siteflow_gateway_pushes_total', { event: 'chat:message', outcome: 'invalid_payload' })).toBeGreaterThanOrEqual(1);
    expect(
      valueOf(gw, 'siteflow_gateway_nats_request_duration_seconds_count', { subject: chatSubject, outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    // Each join tracked its connection in presence; the gateway's liveness refresh is a request too.
    expect(
      valueOf(gw, 'siteflow_gateway_nats_request_duration_seconds_count', { subject: presenceSubjects.track, outcome: 'ok' }) -
        valueOf(gwBefore, 'siteflow_gateway_nats_request_duration_seconds_count', { subject: presenceSubjects.track, outcome: 'ok' }),
    ).toBe(2);
    await expect
      .poll(
        async () =>
          valueOf(await gatewayMetrics(), 'siteflow_gateway_nats_request_duration_seconds_count', {
            subject: presenceSubjects.refresh,
            outcome: 'ok',
          }),
        { timeout: 15_000 },
      )
      .toBeGreaterThanOrEqual(1);
    expect(
      valueOf(gw, 'siteflow_gateway_join_duration_seconds_count', { outcome: 'ok' }) -
        valueOf(gwBefore, 'siteflow_gateway_join_duration_seconds_count', { outcome: 'ok' }),
    ).toBe(2);
    expect(valueOf(gw, 'siteflow_gateway_deliveries_total')).toBeGreaterThan(valueOf(gwBefore, 'siteflow_gateway_deliveries_total'));
    expect(valueOf(gw, 'siteflow_gateway_frames_sent_total')).toBeGreaterThan(valueOf(gwBefore, 'siteflow_gateway_frames_sent_total'));
    expect(valueOf(gw, 'siteflow_gateway_open_sockets')).toBe(valueOf(gwBefore, 'siteflow_gateway_open_sockets') + 2);
    expect(valueOf(gw, 'siteflow_gateway_joined_topics')).toBe(valueOf(gwBefore, 'siteflow_gateway_joined_topics') + 2);
    expect(valueOf(gw, 'siteflow_gateway_rooms')).toBeGreaterThanOrEqual(1);
    expect(valueOf(gw, 'siteflow_gateway_room_members')).toBe(valueOf(gwBefore, 'siteflow_gateway_room_members') + 2);

    const chat = await serviceMetrics(ports.chat!);
    const posted = { command: chatSubject, outcome: 'ok' };
    expect(
      valueOf(chat, 'siteflow_command_duration_seconds_count', posted) -
        valueOf(chatBefore, 'siteflow_command_duration_seconds_count', posted),
    ).toBe(1);
    expect(valueOf(chat, 'siteflow_eventstore_append_duration_seconds_count')).toBeGreaterThan(
      valueOf(chatBefore, 'siteflow_eventstore_append_duration_seconds_count'),
    );
    expect(chat.some((s) => s.name === 'siteflow_postgres_pool_connections' && s.labels.state === 'in_use')).toBe(true);
    expect(chat.some((s) => s.name === 'siteflow_postgres_pool_waiting_requests')).toBe(true);
    // Published: nothing waits in the outbox once the relay caught up.
    await expect
      .poll(async () => valueOf(await serviceMetrics(ports.chat!), 'siteflow_outbox_unpublished_events'), { timeout: 15_000 })
      .toBe(0);

    await expect
      .poll(async () => valueOf(await serviceMetrics(ports.presence!), 'siteflow_presence_tracked_connections'), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(2);
    const presence = await serviceMetrics(ports.presence!);
    expect(valueOf(presence, 'siteflow_presence_live_gateways')).toBe(1);
    // The first sweep runs a sweep interval after presence's view loaded: wait for it, not for time.
    await expect
      .poll(async () => valueOf(await serviceMetrics(ports.presence!), 'siteflow_presence_sweep_duration_seconds_count'), {
        timeout: 30_000,
      })
      .toBeGreaterThan(0);

    // Documents releases evicted connections' locks through a durable consumer: its counts show.
    await expect
      .poll(async () => (await serviceMetrics(ports.documents!)).some((s) => s.name === 'siteflow_consumer_pending_messages'), {
        timeout: 20_000,
      })
      .toBe(true);
    const lockedBefore = valueOf(await serviceMetrics(ports.documents!), 'siteflow_documents_locks_held');
    const doc = bob.snapshot.documents.find((d) => d.lock === null)!;
    expect((await bob.push('document:start_editing', { document_id: doc.id })).status).toBe('ok');
    expect(valueOf(await serviceMetrics(ports.documents!), 'siteflow_documents_locks_held')).toBe(lockedBefore + 1);
    expect((await bob.push('document:stop_editing', { document_id: doc.id })).status).toBe('ok');
  });

  it('no token, secret or client-chosen text in any label', async () => {
    const marker = `zz${Date.now().toString(36)}marker`;
    const eve = await joined('carol');
    // Client-chosen names: an unknown event, an unknown topic, a hostile join.
    const r1 = ref();
    eve.s.send([null, r1, `project:1${marker}`, 'phx_join', {}]);
    await eve.s.next((f) => f[1] === r1, 15_000);
    expect((await eve.push(`chat:${marker}`, { text: marker })).status).toBe('error');
    const r2 = ref();
    eve.s.send([r2, r2, `user:${marker}`, 'phx_join', { token: eve.token }]);
    await eve.s.next((f) => f[1] === r2, 15_000);

    const texts = [
      await scrape(`${stack().gatewayUrl}/metrics`),
      ...(await Promise.all(services.map((s) => serviceMetricsText(ports[s]!)))),
    ];
    const [, payload, signature] = eve.token.split('.');
    for (const text of texts) {
      expect(text).not.toContain(eve.token);
      expect(text).not.toContain(payload!);
      expect(text).not.toContain(signature!);
      expect(text).not.toContain(stack().jwtSecret);
      expect(text).not.toContain(marker);
    }
    const gw = parseExposition(texts[0]!);
    expect(valueOf(gw, 'siteflow_gateway_pushes_total', { event: 'unknown', outcome: 'unknown_event' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(gw, 'siteflow_gateway_join_duration_seconds_count', { outcome: 'unmatched_topic' })).toBeGreaterThanOrEqual(1);
  });

  it('every process exports the process defaults; the outbox lag and the durable consumers are read live', async () => {
    const texts = [
      await scrape(`${stack().gatewayUrl}/metrics`),
      ...(await Promise.all(services.map((s) => serviceMetricsText(ports[s]!)))),
    ];
    for (const [i, text] of texts.entries()) {
      const samples = parseExposition(text);
      const who = ['gateway', ...services][i]!;
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes'])
        expect(valueOf(samples, name), `${who}: ${name}`).toBeGreaterThan(0);
      expect(
        samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'),
        `${who}: event-loop lag`,
      ).toBe(true);
      if (who !== 'gateway') {
        // Nothing waits in the outbox once the relay caught up: no age, no count.
        expect(
          samples.some((s) => s.name === 'siteflow_outbox_lag_seconds'),
          `${who}: outbox lag`,
        ).toBe(true);
        expect(
          samples.some((s) => s.name === 'siteflow_outbox_relay_leader'),
          `${who}: relay leader`,
        ).toBe(true);
      }
    }
    await expect
      .poll(
        async () => {
          const chat = await serviceMetrics(ports.chat!);
          return [valueOf(chat, 'siteflow_outbox_unpublished_events'), valueOf(chat, 'siteflow_outbox_lag_seconds')];
        },
        { timeout: 15_000 },
      )
      .toEqual([0, 0]);
    const documents = await serviceMetrics(ports.documents!);
    const durable = { durable: 'documents-presence-evictions' };
    expect(documents.some((s) => s.name === 'siteflow_consumer_pending_messages' && s.labels.durable === durable.durable)).toBe(true);
    expect(documents.some((s) => s.name === 'siteflow_consumer_redelivered_messages' && s.labels.durable === durable.durable)).toBe(true);
  });

  it('documents counts a lapsed lock as an expiry and an admin force-unlock as one', async () => {
    const counts = async () => {
      const d = await serviceMetrics(ports.documents!);
      return {
        expiries: valueOf(d, 'siteflow_documents_lock_expiries_total'),
        forced: valueOf(d, 'siteflow_documents_force_unlocks_total'),
      };
    };
    const before = await counts();
    const bob = await joined('bob');
    const alice = await joined('alice');
    const [first, second] = bob.snapshot.documents.filter((d) => d.lock === null);
    // Taken and never renewed: it lapses after LOCK_LEASE_MS and the sweep releases it.
    expect((await bob.push('document:start_editing', { document_id: first!.id })).status).toBe('ok');
    await expect.poll(async () => (await counts()).expiries, { timeout: 30_000, interval: 250 }).toBe(before.expiries + 1);

    expect((await bob.push('document:start_editing', { document_id: second!.id })).status).toBe('ok');
    expect((await alice.push('document:force_unlock', { document_id: second!.id, reason: 'metrics test' })).status).toBe('ok');
    expect((await counts()).forced).toBe(before.forced + 1);
  });

  it('an event a durable consumer gives up on shows in dead letters, by consumer', async () => {
    const source = { source: 'documents-presence-evictions' };
    const before = valueOf(await serviceMetrics(ports.documents!), 'siteflow_dead_letters_total', source);
    // A poison message on the subject documents' eviction consumer reads (no room is on project 999).
    stack().nats.publish('project.999.ev.presence.ConnectionEvicted', 'not an event');
    await stack().nats.flush();
    await expect
      .poll(async () => valueOf(await serviceMetrics(ports.documents!), 'siteflow_dead_letters_total', source), { timeout: 20_000 })
      .toBe(before + 1);
  });

  it('frames refused for rate count on the gateway that refused them; a SIGKILLed gateway shows in presence evictions', async () => {
    const gateway = await stack().startExtra('gateway', { FRAMES_PER_SECOND: '1' });
    const carol = await joined('carol', gateway.socketUrl);
    for (let i = 0; i < 4; i++) carol.s.send([null, ref(), 'phoenix', 'heartbeat', {}]);
    await expect
      .poll(
        async () => valueOf(parseExposition(await scrape(`${gateway.gatewayUrl}/metrics`)), 'siteflow_gateway_rate_limited_frames_total'),
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThanOrEqual(2);

    const evictions = async () => valueOf(await serviceMetrics(ports.presence!), 'siteflow_presence_evictions_total');
    const gateways = async () => valueOf(await serviceMetrics(ports.presence!), 'siteflow_presence_live_gateways');
    // Both gateways refresh their liveness (each has sockets).
    await expect.poll(gateways, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const live = await gateways();
    const before = await evictions();
    await gateway.kill('SIGKILL');
    // Presence declares it dead after PRESENCE_TTL_MS without a refresh and evicts carol's connection.
    await expect.poll(evictions, { timeout: 45_000, interval: 500 }).toBeGreaterThanOrEqual(before + 1);
    expect(await gateways()).toBe(live - 1);
  });

  it('a killed relay leader (SIGKILL, one of two instances) shows in the relay leader gauge of the other', async () => {
    const second = await stack().startExtra('chat', { METRICS_PORT: String(ports['chat-2']) });
    const instances: Array<{ proc: StackProcess; port: number }> = [
      { proc: stack().process('chat'), port: ports.chat! },
      { proc: second, port: ports['chat-2']! },
    ];
    const leaders = async () =>
      Promise.all(instances.map(async (i) => valueOf(await serviceMetrics(i.port), 'siteflow_outbox_relay_leader')));
    await expect.poll(leaders, { timeout: 15_000 }).toEqual(expect.arrayContaining([0, 1]));
    const states = await leaders();
    expect(states.reduce((a, b) => a + b, 0)).toBe(1);
    const leader = instances[states.indexOf(1)]!;
    const standby = instances[states.indexOf(0)]!;

    await leader.proc.kill('SIGKILL');
    // Postgres frees the dead session's advisory lock; the standby takes it on its next attempt.
    await expect
      .poll(async () => valueOf(await serviceMetrics(standby.port), 'siteflow_outbox_relay_leader'), { timeout: 30_000, interval: 250 })
      .toBe(1);

    // And it publishes: a message posted now reaches the room, and the outbox drains.
    const bob = await joined('bob');
    expect((await bob.push('chat:message', { text: 'after the leader died' })).status).toBe('ok');
    await expect
      .poll(async () => valueOf(await serviceMetrics(standby.port), 'siteflow_outbox_unpublished_events'), { timeout: 20_000 })
      .toBe(0);
  });
});
