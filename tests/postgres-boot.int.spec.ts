import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, vi } from 'vitest';
import { freePort } from '@siteflow/devstack';
import { createTestDatabase, testNatsUrl } from '@siteflow/testing';

/**
 * A service started while its Postgres cannot be reached (run by hand, a pod before its database):
 * it says so and keeps trying for DB_BOOT_WAIT_MS, then exits 69 (EX_UNAVAILABLE: start it again)
 * with one clear line, never an uncaught exception.
 */
const root = fileURLToPath(new URL('..', import.meta.url));

/** Starts the checklist service with `env` (nothing else inherited but PATH and HOME); its output is collected. */
function startService(env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(root, 'services', 'checklist', 'dist', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NATS_URL: testNatsUrl(), LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return { child, output: () => out };
}

describe('a service whose Postgres cannot be reached at boot', () => {
  it('boots once Postgres can be reached, having said that it waits', async () => {
    const db = await createTestDatabase(inject('databaseUrl'));
    const target = new URL(db.url);
    const port = await freePort();
    const url = new URL(db.url);
    url.port = String(port);
    const service = startService({ DATABASE_URL: url.toString(), DB_BOOT_WAIT_MS: '60000', DB_CONNECT_TIMEOUT_MS: '500' });
    let proxy: net.Server | undefined;
    try {
      await vi.waitFor(() => expect(service.output()).toMatch(/Postgres cannot be reached yet/), { timeout: 30_000, interval: 100 });
      // Postgres "comes up" on the port the service was given: a proxy to the real one.
      proxy = net.createServer((socket) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      proxy.listen(port, '127.0.0.1');
      await once(proxy, 'listening');
      await vi.waitFor(() => expect(service.output()).toMatch(/checklist service listening/), { timeout: 45_000, interval: 100 });
      expect(service.child.exitCode).toBeNull();
    } finally {
      service.child.kill('SIGKILL');
      if (service.child.exitCode === null && service.child.signalCode === null) await once(service.child, 'exit');
      proxy?.close();
      await db.drop();
    }
  }, 90_000);

  it('logs that it waits for Postgres, then exits 69 with a clear line, no uncaught exception', async () => {
    const closedPort = await freePort(); // nothing listens there
    const { child, output } = startService({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/nowhere`,
      DB_BOOT_WAIT_MS: '1500',
      DB_CONNECT_TIMEOUT_MS: '500',
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    const out = output();
    expect(code, out).toBe(69);
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string });
    expect(lines.some((l) => l.level === 40 && /Postgres cannot be reached yet/.test(l.msg))).toBe(true);
    const fatal = lines.find((l) => l.level === 60);
    expect(fatal?.code).toBe('postgres_unavailable');
    expect(fatal?.msg).toMatch(/Postgres could not be reached within 1500 ms.*exiting with 69/);
    expect(out).not.toMatch(/Uncaught|UnhandledPromiseRejection|^\s+at /m);
  }, 60_000);
});
