import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNatsUrl } from '@siteflow/testing';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type {} from '@siteflow/testing';
import { inSpan, startOtlpReceiver, startTracing, type OtlpReceiver, type Tracing } from '@siteflow/telemetry';
import { natsOptionsFromUrl } from './connect.js';
import { requestService } from './service-client.js';

/**
 * requestService against a real nats-server, with tracing on in this process: the service's own
 * failure (Nest's `err` packet, a reply that is not JSON or not an envelope) is answered `internal`
 * AND logged with what it concerns, and the request carries its W3C trace context in its headers.
 */
describe('requestService', () => {
  let nc: NatsConnection;
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  const subject = `test.${Date.now().toString(36)}.fail`;
  const seenHeaders: Array<string | undefined> = [];
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const logger = { error: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }) };
  const ctx = { user_id: 7, username: 'u7', role: 'customer', avatar_url: '/a.svg', connection_id: 'conn-1', project_id: 42 };

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    tracing = await startTracing({
      service: 'messaging-test',
      instance: 'test-1',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' },
    });
    nc = await connect(natsOptionsFromUrl(testNatsUrl()));
    // A stand-in service: answers by the `mode` the request names.
    nc.subscribe(`${subject}.>`, {
      callback: (_err, msg) => {
        seenHeaders.push(msg.headers?.get('traceparent'));
        const { id } = msg.json<{ id: string }>();
        const mode = msg.subject.split('.').pop();
        if (mode === 'err')
          msg.respond(JSON.stringify({ id, err: { status: 'error', message: 'Internal server error' }, isDisposed: true }));
        else if (mode === 'garbage') msg.respond('not json at all');
        else if (mode === 'bare') msg.respond(JSON.stringify({ id, response: { nope: true }, isDisposed: true }));
        else msg.respond(JSON.stringify({ id, response: { ok: true, data: { fine: 1 } }, isDisposed: true }));
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await nc.close();
    await tracing.shutdown();
    await receiver.close();
  });

  it("a service's err packet, a malformed reply and a non-envelope become internal with a log line naming command, user, connection, project and trace", async () => {
    for (const mode of ['err', 'garbage', 'bare']) {
      lines.length = 0;
      let traceId = '';
      const reply = await inSpan('test root', {}, (span) => {
        traceId = span?.spanContext().traceId ?? '';
        return requestService(nc, `${subject}.${mode}`, { ctx, payload: { text: 'x' } }, { timeoutMs: 5_000, logger });
      });
      expect(reply, mode).toMatchObject({ ok: false, error: { code: 'internal' } });
      expect(lines, mode).toHaveLength(1);
      expect(lines[0]!.obj, mode).toMatchObject({
        command: `${subject}.${mode}`,
        subject: `${subject}.${mode}`,
        user: 7,
        connection: 'conn-1',
        project: 42,
        trace: traceId,
      });
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(lines[0]!.obj.reply).toContain('nope');
  });

  it('an answer logs nothing; the request is a client span whose context travels in the traceparent header', async () => {
    lines.length = 0;
    seenHeaders.length = 0;
    const reply = await requestService(nc, `${subject}.ok`, { ctx, payload: {} }, { timeoutMs: 5_000, logger });
    expect(reply).toEqual({ ok: true, data: { fine: 1 } });
    expect(lines).toEqual([]);
    const spans = await receiver.waitFor((all) => all.some((s) => s.name === `request ${subject}.ok`));
    const span = spans.find((s) => s.name === `request ${subject}.ok`)!;
    expect(span.kind).toBe(3); // client
    expect(span.attributes['siteflow.outcome']).toBe('ok');
    expect(seenHeaders).toEqual([`00-${span.traceId}-${span.spanId}-01`]);
  });
});
