import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Socket } from 'phoenix';
import { projectClientEvents, subjects, type RoomSnapshot } from '@siteflow/contracts';
import { connectClient, joinChannel, push, rawSocket, REPO_ROOT, useStack } from '@siteflow/testing';

/**
 * A client in a process of its own, speaking raw Phoenix v2 frames: it joins project 1, takes the
 * edit lock of DOCUMENT_ID and says `holding`. The test then freezes it (SIGSTOP), as a laptop
 * closed mid-session is: its socket stays open and nothing answers the gateway's close frame.
 */
const FROZEN_CLIENT = `
import WebSocket from 'ws';
const ws = new WebSocket(process.env.SOCKET_URL + '/websocket?vsn=2.0.0&token=' + encodeURIComponent(process.env.TOKEN));
const send = (ref, event, payload) => ws.send(JSON.stringify(['1', ref, 'project:1', event, payload]));
ws.on('open', () => send('1', 'phx_join', {}));
ws.on('message', (data) => {
  const [, ref, , event, payload] = JSON.parse(String(data));
  if (event !== 'phx_reply') return;
  if (payload.status !== 'ok') { process.stdout.write('refused ' + JSON.stringify(payload) + '\\n'); process.exit(1); }
  if (ref === '1') send('2', 'document:start_editing', { document_id: Number(process.env.DOCUMENT_ID) });
  else if (ref === '2') process.stdout.write('holding\\n');
});
ws.on('error', (err) => { process.stdout.write('error ' + err.message + '\\n'); process.exit(1); });
`;

async function startFrozenClient(socketUrl: string, token: string, documentId: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', FROZEN_CLIENT], {
    cwd: REPO_ROOT,
    env: { ...process.env, SOCKET_URL: socketUrl, TOKEN: token, DOCUMENT_ID: String(documentId) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const holding = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('holding')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the frozen client exited (code ${code}) before holding its lock: ${out}`)));
  });
  await holding;
  process.kill(child.pid!, 'SIGSTOP');
  return child;
}

/**
 * A gateway stopped by SIGTERM (a rollout, a scale-in) tells the services about every socket it
 * closes before it lets go of NATS: documents releases the closed connections' edit locks at once,
 * instead of leaving them held until their lease lapses (2 minutes by default) while their users
 * reconnect to another gateway and find their own documents locked. A client that does not answer
 * the close handshake must not hold this up.
 */
describe('gateway: SIGTERM', () => {
  // The lease is far beyond the test's wait: only the connection-closed notices can release the locks in time.
  const stack = useStack({ env: { LOCK_LEASE_MS: '600000' } });

  it('answers the pushes in flight (unavailable after its bound) before it closes their sockets', async () => {
    const { token } = await stack().devLogin('alice');
    const chat = stack().process('chat');
    const raw = await rawSocket(stack().socketUrl, token);
    let chatStopped = false;
    try {
      raw.send(['1', '1', 'project:1', 'phx_join', {}]);
      expect((await raw.next((f) => f[1] === '1' && f[3] === 'phx_reply'))[4]).toMatchObject({ status: 'ok' });
      // Chat is frozen, so the push stays in flight at the gateway until the gateway's bound.
      const asked = new Promise<void>((resolve) => {
        const sub = stack().nats.subscribe(projectClientEvents['chat:message'].subject, {
          callback: () => {
            sub.unsubscribe();
            resolve();
          },
        });
      });
      await stack().nats.flush();
      process.kill(chat.pid!, 'SIGSTOP');
      chatStopped = true;
      raw.send(['1', '2', 'project:1', 'chat:message', { text: 'in flight at shutdown', idempotency_key: 'shutdown-push-1' }]);
      await asked;

      await stack().kill('gateway', 'SIGTERM');
      const reply = raw.frames.find((f) => f[1] === '2' && f[3] === 'phx_reply');
      expect(reply, `frames before the close: ${JSON.stringify(raw.frames)}`).toBeDefined();
      expect(reply![4]).toMatchObject({ status: 'error', response: { code: 'unavailable' } });
      expect(raw.isOpen).toBe(false);
    } finally {
      if (chatStopped) process.kill(chat.pid!, 'SIGCONT');
      await raw.close().catch(() => undefined);
    }
    await stack().start('gateway');
  });

  it('publishes every closed socket’s notice before draining NATS, so edit locks are released at once', async () => {
    const { token, user } = await stack().devLogin('bob');
    let socket: Socket | undefined;
    let frozen: ChildProcess | undefined;
    try {
      socket = await connectClient(stack().socketUrl, token, { reconnectAfterMs: () => 60_000 });
      const channel = socket.channel('project:1', {});
      const snapshot = await joinChannel<RoomSnapshot>(channel);
      const [answering, unanswering] = [snapshot.documents[0]!.id, snapshot.documents[1]!.id];
      expect((await push(channel, 'document:start_editing', { document_id: answering })).status).toBe('ok');
      frozen = await startFrozenClient(stack().socketUrl, token, unanswering);
      const held = [answering, unanswering];

      const released = new Map<number, { user_id: number; reason: string }>();
      const sub = stack().nats.subscribe(subjects.projectEvent(1, 'documents', 'LockReleased'));
      const allReleased = (async () => {
        for await (const m of sub) {
          const event = m.json<{ data: { document_id: number; user_id: number; reason: string } }>();
          released.set(event.data.document_id, { user_id: event.data.user_id, reason: event.data.reason });
          if (held.every((id) => released.has(id))) return true;
        }
        return false;
      })();
      await stack().nats.flush();

      const stoppedAt = Date.now();
      await stack().kill('gateway', 'SIGTERM');
      const exitedAfter = Date.now() - stoppedAt;
      // Generous for a loaded machine, and still a small fraction of the lease.
      const deadline = setTimeout(() => sub.unsubscribe(), 20_000);
      const done = await allReleased;
      const releasedAfter = Date.now() - stoppedAt;
      clearTimeout(deadline);
      sub.unsubscribe();
      expect(done, `locks released after SIGTERM: ${JSON.stringify([...released])} (gateway exited after ${exitedAfter} ms)`).toBe(true);
      for (const id of held) expect(released.get(id)).toEqual({ user_id: user.id, reason: 'disconnected' });
      console.log(`SIGTERM → gateway exited in ${exitedAfter} ms, both locks released in ${releasedAfter} ms`);
      // It stopped by itself, well inside the harness's 5 s before SIGKILL.
      expect(exitedAfter).toBeLessThan(5_000);
      expect(stack().logs('gateway')).not.toMatch(/could not announce closed connection|unclean stop/);
    } finally {
      socket?.disconnect();
      if (frozen && frozen.exitCode === null && frozen.signalCode === null) {
        const exited = once(frozen, 'exit');
        frozen.kill('SIGKILL');
        await exited;
      }
    }
  });
});
