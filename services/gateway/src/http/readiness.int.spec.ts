import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freezeProcess } from '@siteflow/devstack';
import { useStack, testNatsUrl } from '@siteflow/testing';

/**
 * The gateway's readiness is its own: it can serve while its NATS answers, whatever the services'
 * state (reported in the body, and decided on only with `?full`); it is not ready while NATS does
 * not answer, even though the connection is not closed (a stalled server).
 */
describe('gateway readiness', () => {
  const stack = useStack({ services: [] });

  it('is ready with every service down (and says so), not ready with ?full, and not ready while NATS is stalled', async () => {
    const ready = await fetch(`${stack().gatewayUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      nats: 'ok',
      services: { chat: 'unavailable', documents: 'unavailable', presence: 'unavailable', checklist: 'unavailable' },
      problems: { chat: expect.any(String) as string },
    });
    const full = await fetch(`${stack().gatewayUrl}/readyz?full`);
    expect(full.status).toBe(503);
    expect(await full.json()).toMatchObject({ status: 'not_ready', nats: 'ok' });

    const nats = await pidListeningOn(Number(new URL(testNatsUrl()).port));
    await freezeProcess(nats); // every thread: a bare kill() let its network poller answer once under load
    try {
      const stalled = await fetch(`${stack().gatewayUrl}/readyz`);
      expect(stalled.status).toBe(503);
      expect(await stalled.json()).toMatchObject({
        status: 'not_ready',
        nats: 'unavailable',
        problems: { nats: expect.stringMatching(/NATS did not answer/) as string },
      });
    } finally {
      process.kill(nats, 'SIGCONT');
    }
    await expect.poll(async () => (await fetch(`${stack().gatewayUrl}/readyz`)).status, { timeout: 15_000 }).toBe(200);
    // Liveness never looked at any of it.
    expect((await fetch(`${stack().gatewayUrl}/healthz`)).status).toBe(200);
  });
});

async function pidListeningOn(port: number): Promise<number> {
  const { stdout } = await promisify(execFile)('ss', ['-ltnpH', `( sport = :${port} )`]);
  const pid = /pid=(\d+)/.exec(stdout)?.[1];
  if (!pid) throw new Error(`nothing listens on port ${port}: ${JSON.stringify(stdout)}`);
  return Number(pid);
}
