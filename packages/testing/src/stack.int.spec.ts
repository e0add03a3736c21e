import { fileURLToPath } from 'node:url';
import type { Socket } from 'phoenix';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { subjects } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { testNatsUrl } from './worker-nats.js';
import { connectClient, joinChannel, nextEvent, openChannel, push, rawSocket, recordEvents, SocketRefused } from './phoenix.js';
import { startStack, type Stack } from './stack.js';
import { useStack } from './use-stack.js';

// The harness against stand-ins for the services and the gateway (test-fixtures/fake-process.mjs),
// so it is tested apart from the real processes.
const fake = fileURLToPath(new URL('../test-fixtures/fake-process.mjs', import.meta.url));

describe('startStack', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      natsUrl: testNatsUrl(),
      databaseUrl: inject('databaseUrl'),
      entryPoint: () => fake,
      env: { LOG_LEVEL: 'info' },
    });
  });
  afterAll(() => (stack as Stack | undefined)?.stop()); // undefined when the start failed

  it('starts every process with the agreed environment and waits until it is ready', async () => {
    expect(stack.gatewayUrl).toBe(`http://127.0.0.1:${stack.gatewayPort}`);
    expect(stack.socketUrl).toBe(`ws://127.0.0.1:${stack.gatewayPort}/socket`);
    expect(stack.jwtSecret).toHaveLength(48);
    for (const name of ['chat', 'documents', 'presence', 'checklist', 'gateway'] as const) {
      expect(stack.process(name).running).toBe(true);
      expect(stack.logs(name)).toContain('starting (LOG_LEVEL=info, SEED_DEMO=true)');
    }
    expect(stack.logs('gateway')).toContain(
      `listening on 127.0.0.1:${stack.gatewayPort} JWT_SECRET=${stack.jwtSecret} DEV_LOGIN=true PUSH_TIMEOUT_MS=10000`,
    );
    const login = await stack.devLogin('alice');
    expect(login.user).toMatchObject({ id: 7, username: 'alice', role: 'customer' });
    expect(login.token).toBe('good');
  });

  it('kills and restarts a service, and runs a second instance of it', async () => {
    const first = stack.process('chat');
    await stack.kill('chat');
    expect(first.running).toBe(false);
    // NATS has dropped it too: a request is answered at once (no responders), not timed out.
    const gone = await requestService(stack.nats, subjects.health('chat'), {}, { timeoutMs: 5_000 });
    expect(gone).toMatchObject({ ok: false, error: { code: 'unavailable', message: 'chat service is not running' } });
    await stack.start('chat');
    expect(stack.process('chat').running).toBe(true);
    expect(stack.process('chat').instanceId).toBe(first.instanceId);

    const extra = await stack.startExtra('chat', { LOG_LEVEL: 'debug' });
    expect(extra.instanceId).not.toBe(first.instanceId);
    expect(extra.logs()).toContain('LOG_LEVEL=debug');
    await extra.kill('SIGTERM');
    expect(extra.running).toBe(false);
  });

  it('restarts the gateway on the same port and runs an extra gateway on another', async () => {
    await stack.kill('gateway');
    await expect(fetch(`${stack.gatewayUrl}/readyz`)).rejects.toThrow();
    await stack.start('gateway');
    expect((await fetch(`${stack.gatewayUrl}/readyz`)).status).toBe(200);

    const second = await stack.startExtra('gateway');
    expect(second.port).not.toBe(stack.gatewayPort);
    expect((await fetch(`${second.gatewayUrl}/readyz`)).status).toBe(200);
    expect(second.socketUrl).toBe(`ws://127.0.0.1:${second.port}/socket`);
    await second.kill();
  });

  it('reports a process that dies before it is ready, with its output', async () => {
    await expect(stack.startExtra('presence', { FAKE_CRASH: 'true' })).rejects.toThrow(
      /exited before it was ready[\s\S]*crashing as asked/,
    );
  });
});

describe('phoenix client helpers (stock phoenix client in Node)', () => {
  const stack = useStack({ entryPoint: () => fake, services: [] });
  let socket: Socket;
  beforeAll(async () => {
    socket = await connectClient(stack().socketUrl, 'good');
  });
  afterAll(() => (socket as Socket | undefined)?.disconnect());

  it('joins, pushes and receives events', async () => {
    const { channel, response } = await openChannel(socket, 'project:1', { since: 3 });
    expect(response).toEqual({ joined: 'project:1', params: { since: 3 } });
    expect(await joinChannel(socket.channel('project:2'))).toEqual({ joined: 'project:2', params: {} });
    expect(await joinChannel(socket, 'project:3', { a: 1 })).toEqual({ joined: 'project:3', params: { a: 1 } });
    const recorder = recordEvents(channel, 'echoed');
    const event = nextEvent(channel, 'echoed', (p) => (p as { n: number }).n === 2);
    expect(await push(channel, 'echo', { n: 1 })).toEqual({ status: 'ok', response: { echoed: { n: 1 } } });
    expect(await push(channel, 'echo', { n: 2 })).toMatchObject({ status: 'ok' });
    expect(await event).toEqual({ n: 2 });
    expect(recorder.events).toEqual([{ n: 1 }, { n: 2 }]);
    recorder.stop();
    expect(await push(channel, 'nope', {})).toEqual({ status: 'error', response: { reason: 'unknown event', code: 'invalid_payload' } });
    expect((await push(channel, 'silent', {}, 200)).status).toBe('timeout');
    await expect(nextEvent(channel, 'never', undefined, 100)).rejects.toThrow('no never on project:1');
  });

  it('rejects a refused join with the error response', async () => {
    await expect(joinChannel(socket, 'forbidden:1')).rejects.toEqual({ reason: 'unauthorized', code: 'unauthorized' });
    const channel = socket.channel('forbidden:2');
    await expect(joinChannel(channel)).rejects.toMatchObject({ code: 'unauthorized' });
    expect(channel.state).not.toBe('errored'); // left, so phoenix does not keep rejoining
  });

  it('rejects a socket whose upgrade is refused', async () => {
    await expect(connectClient(stack().socketUrl, 'bad', { timeoutMs: 2_000 })).rejects.toThrow(/failed before it opened/);
  });

  it('speaks raw frames', async () => {
    const raw = await rawSocket(stack().socketUrl, 'good');
    try {
      raw.send([null, '1', 'phoenix', 'heartbeat', {}]);
      raw.send(['2', '2', 'project:9', 'phx_join', {}]);
      const join = await raw.next((f) => f[1] === '2');
      expect(join).toEqual(['2', '2', 'project:9', 'phx_reply', { status: 'ok', response: { joined: 'project:9', params: {} } }]);
      // the heartbeat reply arrived first and is still there for a later next()
      expect(await raw.next((f) => f[2] === 'phoenix')).toEqual([null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
      raw.send(['2', '3', 'project:9', 'echo', { x: 1 }]);
      expect(await raw.next((f) => f[3] === 'echoed')).toEqual([null, null, 'project:9', 'echoed', { x: 1 }]);
      await expect(raw.next((f) => f[3] === 'never', 100)).rejects.toThrow('no matching frame');
      expect(raw.frames.map((f) => f[3])).toEqual(['phx_reply', 'phx_reply', 'phx_reply', 'echoed']);
      expect(raw.isOpen).toBe(true);
    } finally {
      await raw.close();
    }
    expect(raw.isOpen).toBe(false);
    expect((await raw.closed).code).toBe(1005);
    await expect(rawSocket(stack().socketUrl, 'bad')).rejects.toBeInstanceOf(SocketRefused);
    await expect(rawSocket(stack().socketUrl, 'bad')).rejects.toMatchObject({ status: 403 });
  });
});
