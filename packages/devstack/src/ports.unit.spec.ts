import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { canConnect, ephemeralPorts, freePort, isFetchBadPort, isPortFree, portFromEnv, waitUntil } from './ports.js';

describe('freePort', () => {
  it('hands out distinct ports that can be listened on', async () => {
    const ports = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThan(0);
      expect(await isPortFree(port)).toBe(true);
    }
  });

  it("hands out ports outside the range outgoing connections' local ports come from", async () => {
    // Such a port could be taken by a connection between the probe and the listen, and kept.
    const { low, high } = ephemeralPorts();
    expect(low).toBeGreaterThan(1_024);
    expect(high).toBeGreaterThanOrEqual(low);
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    for (const port of ports) expect(port < low || port > high, `port ${port} in ${low}-${high}`).toBe(true);
  });

  describe('never a port fetch refuses', () => {
    afterEach(() => vi.restoreAllMocks());

    it('skips 10080 when the draw lands on it', async () => {
      // fetch (undici) refuses the Fetch standard's "bad ports" without connecting ("fetch failed
      // (bad port)"): a gateway handed 10080 was never seen ready by the stack's /readyz poll (a
      // CI-like run, tests/tracing.int.spec.ts). The draw is LOWEST + random × (range).
      const below = ephemeralPorts().low - 1;
      const landOn = (port: number) => (port - 10_000 + 0.5) / (below - 10_000 + 1);
      vi.spyOn(Math, 'random').mockReturnValueOnce(landOn(10_080)).mockReturnValueOnce(landOn(10_081));
      const port = await freePort();
      expect(port).not.toBe(10_080);
      expect(isFetchBadPort(port)).toBe(false);
    });

    it('knows the bad ports above 1024 from the Fetch standard', () => {
      for (const port of [1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6669, 6679, 6697, 10080]) {
        expect(isFetchBadPort(port), String(port)).toBe(true);
      }
      for (const port of [4000, 4222, 5432, 8080, 10079, 10081, 32768]) expect(isFetchBadPort(port), String(port)).toBe(false);
    });
  });
});

describe('isPortFree / canConnect', () => {
  it('see a listener', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    try {
      expect(await isPortFree(port)).toBe(false);
      expect(await canConnect(port)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await isPortFree(port)).toBe(true);
    expect(await canConnect(port, '127.0.0.1', 500)).toBe(false);
  });
});

describe('waitUntil', () => {
  it('resolves once the check passes', async () => {
    let calls = 0;
    await waitUntil(() => ++calls >= 3, { timeoutMs: 1_000, intervalMs: 1, describe: () => 'never' });
    expect(calls).toBe(3);
  });

  it('throws the description after the timeout', async () => {
    await expect(waitUntil(() => false, { timeoutMs: 30, intervalMs: 5, describe: () => 'still down' })).rejects.toThrow('still down');
  });
});

describe('portFromEnv', () => {
  it('reads a port, and nothing when unset or empty', () => {
    expect(portFromEnv({ PORT: '4100' }, 'PORT')).toBe(4100);
    expect(portFromEnv({ PORT: ' 4100 ' }, 'PORT')).toBe(4100);
    expect(portFromEnv({}, 'PORT')).toBeUndefined();
    expect(portFromEnv({ PORT: '' }, 'PORT')).toBeUndefined();
  });

  it('names the variable when its value is not a port', () => {
    for (const bad of ['0', '65536', 'abc', '4000.5', '-1', '4e3']) {
      expect(() => portFromEnv({ NATS_PORT: bad }, 'NATS_PORT')).toThrow(`NATS_PORT must be a TCP port (1-65535), not "${bad}"`);
    }
  });
});
