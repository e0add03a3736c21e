import { describe, expect, it } from 'vitest';
import { Connection } from './protocol/connection.js';
import { GatewayMetrics } from './metrics.js';
import { Rooms } from './rooms/rooms.js';
import { alice, FakeNats, FakeSocket, silentLogger, testConfig } from './test-fixtures/fakes.js';

/** The value of an unlabelled family in the registry (0 when it has no sample). */
async function valueOf(metrics: GatewayMetrics, name: string): Promise<number> {
  const family = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return family?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

/** A connection counting into `metrics`, on an in-memory socket and NATS. */
function connection(metrics: GatewayMetrics, env: Record<string, string> = {}) {
  const nats = new FakeNats();
  const ws = new FakeSocket();
  const rooms = new Rooms(nats.asConnection(), silentLogger);
  const conn = new Connection('c1', alice, ws.asWebSocket(), {
    config: testConfig(env),
    logger: silentLogger,
    nats: nats.asConnection(),
    rooms,
    metrics,
    now: () => Date.parse('2026-12-01T10:00:00.000Z'),
  });
  const heartbeat = (ref: string) => conn.onFrame(JSON.stringify([null, ref, 'phoenix', 'heartbeat', {}]));
  return { ws, conn, rooms, heartbeat };
}

/**
 * The gateway's counters that a running stack rarely moves (tests/metrics.int.spec.ts scrapes the
 * others from real processes): frames refused for rate, slow consumers closed, frames sent, and
 * the bytes buffered summed over sockets.
 */
describe('gateway metrics count what connections do', () => {
  it('each frame refused for rate counts in siteflow_gateway_rate_limited_frames_total; answered frames in frames sent', async () => {
    const metrics = new GatewayMetrics();
    const { ws, heartbeat } = connection(metrics, { FRAMES_PER_SECOND: '1', MAX_RATE_LIMITED_FRAMES: '10' });
    for (let i = 1; i <= 5; i++) heartbeat(String(i));
    // A burst of two passes; the three after it are refused, each with a reply.
    expect(ws.take()).toHaveLength(5);
    expect(await valueOf(metrics, 'siteflow_gateway_rate_limited_frames_total')).toBe(3);
    expect(await valueOf(metrics, 'siteflow_gateway_frames_sent_total')).toBe(5);
  });

  it('a socket closed for not reading counts in siteflow_gateway_slow_consumers_closed_total', async () => {
    const metrics = new GatewayMetrics();
    const { ws, heartbeat } = connection(metrics, { MAX_BUFFERED_BYTES: String(64 * 1024) });
    ws.bufferedAmount = 64 * 1024 + 1;
    heartbeat('1');
    expect(ws.terminated).toBe(true);
    expect(await valueOf(metrics, 'siteflow_gateway_slow_consumers_closed_total')).toBe(1);
    expect(await valueOf(metrics, 'siteflow_gateway_frames_sent_total')).toBe(0);
  });

  it('bytes buffered, sockets and topics are summed over the open sockets when scraped', async () => {
    const metrics = new GatewayMetrics();
    const a = connection(metrics);
    const b = connection(metrics);
    const sockets = [a.conn, b.conn];
    metrics.watch({
      sockets: () => sockets,
      rooms: () => a.rooms.snapshotStats(),
    });
    a.ws.bufferedAmount = 300;
    b.ws.bufferedAmount = 45;
    expect(await valueOf(metrics, 'siteflow_gateway_buffered_bytes')).toBe(345);
    expect(await valueOf(metrics, 'siteflow_gateway_open_sockets')).toBe(2);
    sockets.pop();
    expect(await valueOf(metrics, 'siteflow_gateway_buffered_bytes')).toBe(300);
  });
});
