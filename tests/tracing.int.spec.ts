import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { Socket } from 'phoenix';
import { connectClient, nextEvent, openChannel, push, rawSocket, useStack, type RawSocket } from '@siteflow/testing';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '@siteflow/telemetry';

/**
 * Tracing across the real processes: every process exports its spans over OTLP/HTTP (http/json) to
 * a receiver in this test, and one chat message sent with the stock phoenix client must be one
 * trace from the sender's socket to the receivers' (docs/operations.md, "Traces").
 */
describe('tracing: one chat message is one trace across the gateway, the chat service and its relay', () => {
  let receiver: OtlpReceiver | undefined;
  const otlp = () => {
    if (!receiver) throw new Error('the OTLP receiver is not running');
    return receiver;
  };
  const stack = useStack(async () => {
    receiver = await startOtlpReceiver();
    return {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // Exported within a moment instead of every 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    };
  });
  const sockets: Socket[] = [];
  const raws: RawSocket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const s of raws) await s.close().catch(() => undefined);
    await receiver?.close();
  });

  const joined = async (username: string) => {
    const { token } = await stack().devLogin(username);
    const socket = await connectClient(stack().socketUrl, token);
    sockets.push(socket);
    const { channel } = await openChannel(socket, 'project:1');
    return { token, channel };
  };

  const byId = (spans: ReceivedSpan[]) => new Map(spans.map((s) => [s.spanId, s]));

  it('push → request → handler → commit (with the append) and relay publish → fan-out, parent by parent, one trace id', async () => {
    const alice = await joined('alice');
    const bob = await joined('bob');
    const text = `traced ${Date.now().toString(36)}`;
    const received = nextEvent(bob.channel, 'chat:new_message', (m) => m.text === text, 15_000);
    expect((await push(alice.channel, 'chat:message', { text })).status).toBe('ok');
    await received;

    // The message's trace is the one whose root is the only `push chat:message` span so far. Each
    // process exports on its own schedule (the gateway's fan-out can arrive before the chat
    // service's handler span), so the trace is complete once every process's part has arrived:
    // the gateway's fan-out, and the chat service's handler, commit and publish.
    const isFanOutOfMessage = (s: ReceivedSpan) =>
      s.name === 'fan-out project' && String(s.attributes['messaging.destination.name']).endsWith('.ev.chat.MessagePosted');
    const isPublishOfMessage = (s: ReceivedSpan) =>
      s.name.startsWith('publish ') && String(s.attributes['messaging.destination.name']).endsWith('.ev.chat.MessagePosted');
    const expectedParts: ((s: ReceivedSpan) => boolean)[] = [
      isFanOutOfMessage,
      isPublishOfMessage,
      (s) => s.name === 'handle chat.message.post',
      (s) => s.name === 'eventstore.commit',
    ];
    const spans = await otlp().waitFor((all) => {
      const root = all.find((s) => s.name === 'push chat:message');
      if (root === undefined) return false;
      const inTrace = all.filter((s) => s.traceId === root.traceId);
      return expectedParts.every((part) => inTrace.some(part));
    });
    const pushes = spans.filter((s) => s.name === 'push chat:message');
    expect(pushes).toHaveLength(1);
    const root = pushes[0]!;
    const trace = spans.filter((s) => s.traceId === root.traceId);
    const spansById = byId(trace);
    const parentOf = (s: ReceivedSpan) => (s.parentSpanId === undefined ? undefined : spansById.get(s.parentSpanId));
    const one = (pred: (s: ReceivedSpan) => boolean, what: string) => {
      const found = trace.filter(pred);
      expect(found, `${what} in ${JSON.stringify(trace.map((s) => `${s.service}:${s.name}`))}`).toHaveLength(1);
      return found[0]!;
    };

    // The gateway: the push is the root, from alice's socket; the request to chat is its child.
    expect(root.service).toBe('gateway');
    expect(root.parentSpanId).toBeUndefined();
    expect(root.kind).toBe(2); // server
    expect(root.attributes).toMatchObject({ 'siteflow.event': 'chat:message', 'siteflow.outcome': 'ok', 'siteflow.project_id': 1 });
    const request = one((s) => s.name === 'request chat.message.post', 'the request span');
    expect(request.service).toBe('gateway');
    expect(parentOf(request)).toBe(root);

    // The chat service: its handler continues the trace from the NATS headers; the commit is its
    // child, and holds the append (it rides with COMMIT: no append span of its own).
    const handler = one((s) => s.name === 'handle chat.message.post', 'the handler span');
    expect(handler.service).toBe('chat');
    expect(parentOf(handler)).toBe(request);
    expect(handler.attributes['siteflow.outcome']).toBe('ok');
    expect(trace.filter((s) => s.name === 'eventstore.append')).toEqual([]);
    const commit = one((s) => s.name === 'eventstore.commit', 'the commit span');
    expect(commit.service).toBe('chat');
    expect(parentOf(commit)).toBe(handler);
    expect(commit.attributes['siteflow.events']).toBe(1);

    // The relay (the chat instance leading its schema) publishes as a child of the command's
    // handler, from the trace context stored with the event; the gateway's fan-out is the
    // publish's child.
    const publish = one(isPublishOfMessage, 'the publish of MessagePosted');
    expect(publish.service).toBe('chat');
    expect(publish.kind).toBe(4); // producer
    expect(parentOf(publish)).toBe(handler);
    const fanOut = one(isFanOutOfMessage, 'the fan-out of MessagePosted');
    expect(fanOut.service).toBe('gateway');
    expect(fanOut.kind).toBe(5); // consumer
    expect(parentOf(fanOut)).toBe(publish);
    expect(fanOut.attributes['siteflow.topic']).toBe('project:1');
    expect(fanOut.attributes['siteflow.members']).toBeGreaterThanOrEqual(2);
    expect(fanOut.attributes['siteflow.delivered']).toBeGreaterThanOrEqual(1);

    // Every span of the trace descends from the push: no orphan, no second root.
    for (const s of trace) {
      let at: ReceivedSpan | undefined = s;
      while (at && at !== root) at = parentOf(at);
      expect(at, `${s.service}:${s.name} descends from the push`).toBe(root);
    }

    // The stored event keeps the command's context in its metadata (what the relay continued from).
    const db = new pg.Client({ connectionString: stack().databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ metadata: Record<string, unknown> }>(
        `SELECT metadata FROM chat.events WHERE type = 'MessagePosted' AND data->>'text' = $1`,
        [text],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.metadata.traceparent).toBe(`00-${root.traceId}-${handler.spanId}-01`);
    } finally {
      await db.end();
    }
  });

  it('no token, secret or client-chosen text in any span attribute or metric label', async () => {
    const marker = `zz${Date.now().toString(36)}marker`;
    const carol = await joined('carol');
    expect((await push(carol.channel, 'chat:message', { text: `secretive ${marker}` })).status).toBe('ok');
    // Client-chosen names: an unknown event on a joined topic, an unknown topic, a token as a join param.
    const s = await rawSocket(stack().socketUrl, carol.token);
    raws.push(s);
    s.send(['1', '1', 'project:1', 'phx_join', {}]);
    await s.next((f) => f[1] === '1' && f[3] === 'phx_reply', 15_000);
    s.send(['1', '2', 'project:1', `chat:${marker}`, { text: marker, token: carol.token }]);
    await s.next((f) => f[1] === '2', 15_000);
    s.send(['3', '3', `project:1${marker}`, 'phx_join', { token: carol.token }]);
    await s.next((f) => f[1] === '3', 15_000);

    const spans = await otlp().waitFor((all) =>
      all.some((sp) => sp.name === 'push unknown' && sp.attributes['siteflow.outcome'] === 'unknown_event'),
    );
    // The chat message's own trace has reached the gateway's fan-out too.
    await otlp().waitFor((all) => all.filter((sp) => sp.name === 'fan-out project').length >= 2);

    const texts = [
      ...spans.map((sp) => JSON.stringify({ name: sp.name, attributes: sp.attributes, service: sp.service, instance: sp.instance })),
      await (await fetch(`${stack().gatewayUrl}/metrics`)).text(),
    ];
    const [, payload, signature] = carol.token.split('.');
    const secrets = [carol.token, payload!, signature!, stack().jwtSecret, marker];
    for (const url of [stack().databaseUrl, stack().natsUrl]) {
      const password = decodeURIComponent(new URL(url).password);
      if (password) secrets.push(password);
    }
    for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
