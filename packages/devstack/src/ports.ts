import { readFileSync } from 'node:fs';
import net from 'node:net';

// Ports handed out recently by this process. The OS may give the same ephemeral port to two
// callers that ask at nearly the same time (the probe socket is closed before the port is used),
// so a second caller gets a different one.
const handedOut = new Set<number>();

/** The lowest port handed out: below it are the well-known and commonly configured ones. */
const LOWEST = 10_000;

/**
 * The Fetch standard's "bad ports" above 1024 (https://fetch.spec.whatwg.org/#port-blocking):
 * `fetch` refuses a URL on one of them without connecting ("fetch failed", cause "bad port"), and
 * browsers do the same, so a server handed one could never be reached by either.
 */
const FETCH_BAD_PORTS = new Set([
  1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Whether `fetch` (and a browser) refuses to connect to this port. Every port up to 1024 counts: none is handed out. */
export function isFetchBadPort(port: number): boolean {
  return port <= 1024 || FETCH_BAD_PORTS.has(port);
}

/**
 * A TCP port nobody listens on right now, on `host` (default 127.0.0.1), chosen below the range the
 * OS takes outgoing connections' local ports from (Linux: ip_local_port_range, 32768-60999 by
 * default). A port from that range can be taken by any connection opened between this probe and
 * the listen, and kept by it: a process that `npm start` restarts on its port then fails on
 * EADDRINUSE every time (the bench's fault run saw presence do so for 3 minutes). Only when that
 * range leaves too little room below it does the OS choose (port 0). Never one of fetch's bad
 * ports (isFetchBadPort): the stack polls a gateway's /readyz with fetch.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const below = ephemeralPorts().low - 1;
  if (below - LOWEST >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = LOWEST + Math.floor(Math.random() * (below - LOWEST + 1));
      if (isFetchBadPort(port) || handedOut.has(port) || !(await isPortFree(port, host))) continue;
      handedOut.add(port);
      return port;
    }
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await probePort(host);
    if (!isFetchBadPort(port) && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port found on ${host}`);
}

/** Where the OS takes outgoing connections' local ports from (Linux's default when it cannot be read). */
export function ephemeralPorts(): { low: number; high: number } {
  try {
    const [low = 0, high = 0] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0 && high >= low) return { low, high };
  } catch {
    // not Linux, or no /proc
  }
  return { low: 32_768, high: 60_999 };
}

function probePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`could not read the probed port on ${host}`))));
    });
  });
}

/** Whether a TCP listener answers on host:port within timeoutMs. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether this process could listen on host:port right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Polls `check` until it returns true; throws `describe()` after timeoutMs. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  opts: { timeoutMs: number; intervalMs?: number; describe: () => string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(opts.describe());
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/**
 * The TCP port a variable names (`PORT`, `NATS_PORT`, …): undefined when unset or empty, so the
 * caller picks a default; a clear error for anything that is not a port.
 */
export function portFromEnv(env: Record<string, string | undefined>, name: string): number | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`${name} must be a TCP port (1-65535), not "${value}"`);
  }
  return port;
}
