import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { canConnect, ephemeralPorts, freePort, isPortFree, portFromEnv, waitUntil } from './ports.js';

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
