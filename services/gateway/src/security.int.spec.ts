import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSocket, useStack, type RawSocket } from '@siteflow/testing';

type Payload = { status: string; response?: { code?: string } };
type Frame = [string | null, string | null, string, string, Payload];

/** Hardening of the socket: origins, per-user and per-socket limits, floods. Each limit is tried. */
describe('socket limits and origin check', () => {
  const stack = useStack({
    env: {
      ALLOWED_ORIGINS: 'https://collab.example.com',
      MAX_CONNECTIONS_PER_USER: '3',
      MAX_CHANNELS_PER_CONNECTION: '2',
      FRAMES_PER_SECOND: '5',
      MAX_RATE_LIMITED_FRAMES: '30',
      MAX_BUFFERED_BYTES: '1048576',
    },
  });
  let token: string;
  let bobToken: string;
  const open: RawSocket[] = [];
  const connect = async (t: string, headers?: Record<string, string>) => {
    const s = await rawSocket(stack().socketUrl, t, headers ? { headers } : {});
    open.push(s);
    return s;
  };
  const reply = (s: RawSocket, ref: string) => s.next((f) => f[1] === ref && f[3] === 'phx_reply', 5000) as Promise<Frame>;

  beforeAll(async () => {
    token = (await stack().devLogin('alice')).token;
    bobToken = (await stack().devLogin('bob')).token;
  });
  afterAll(() => {
    for (const s of open) void s.close();
  });

  it('refuses a browser page from a foreign origin and accepts the allowed one', async () => {
    await expect(rawSocket(stack().socketUrl, token, { headers: { Origin: 'https://evil.example' } })).rejects.toThrow(/403/);
    const ok = await connect(token, { Origin: 'https://collab.example.com' });
    expect(ok.isOpen).toBe(true);
    void ok.close();
  });

  it('limits the sockets one user may hold', async () => {
    const a = await connect(bobToken);
    const b = await connect(bobToken);
    const c = await connect(bobToken);
    await expect(rawSocket(stack().socketUrl, bobToken)).rejects.toThrow(/429/);
    void c.close();
    await c.closed;
    // A slot freed by a closed socket can be used again.
    await expect
      .poll(async () => {
        try {
          const d = await connect(bobToken);
          return d.isOpen;
        } catch {
          return false;
        }
      })
      .toBe(true);
    expect(a.isOpen && b.isOpen).toBe(true);
    for (const s of [a, b]) void s.close();
  });

  it('limits the channels one socket may join', async () => {
    const s = await connect(token);
    s.send(['1', '1', 'project:1', 'phx_join', {}]);
    expect((await reply(s, '1'))[4].status).toBe('ok');
    s.send(['2', '2', 'user:1', 'phx_join', {}]);
    expect((await reply(s, '2'))[4].status).toBe('ok');
    s.send(['3', '3', 'project:2', 'phx_join', {}]);
    expect((await reply(s, '3'))[4]).toMatchObject({ status: 'error', response: { code: 'rate_limited' } });
    void s.close();
  });

  it('answers a frame flood with rate_limited, closes a sustained one, and others keep working', async () => {
    const flooder = await connect(token);
    const calm = await connect(bobToken);
    for (let i = 0; i < 20; i++) flooder.send([null, `f${i}`, 'phoenix', 'heartbeat', {}]);
    await flooder.next((f) => f[3] === 'phx_reply' && (f[4] as Payload).status === 'error', 5000);
    const limited = flooder.frames.filter((f) => f[3] === 'phx_reply' && (f[4] as Payload | undefined)?.response?.code === 'rate_limited');
    expect(limited.length).toBeGreaterThan(0);
    for (let i = 20; i < 80 && flooder.isOpen; i++) flooder.send([null, `f${i}`, 'phoenix', 'heartbeat', {}]);
    expect((await flooder.closed).code).toBe(1008);
    calm.send([null, 'c1', 'phoenix', 'heartbeat', {}]);
    expect((await reply(calm, 'c1'))[4]).toEqual({ status: 'ok', response: {} });
  });

  it('closes a slow consumer instead of buffering for it, while a reading client keeps up', async () => {
    const slow = await connect(token);
    const reader = await connect(bobToken);
    for (const [s, ref] of [
      [slow, 's1'],
      [reader, 'r1'],
    ] as const) {
      s.send([ref, ref, 'project:1', 'phx_join', {}]);
      expect((await reply(s, ref))[4].status).toBe('ok');
    }
    // The slow client stops reading from its TCP socket: the kernel buffers fill, then the gateway's.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const big = 'x'.repeat(20_000);
    const enc = new TextEncoder();
    const total = 600; // 12 MB: more than the slow client's kernel buffers plus the 1 MiB bound
    for (let i = 0; i < total; i++) {
      stack().nats.publish(
        'project.1.eph.chat.flood',
        enc.encode(JSON.stringify({ broadcast: { event: 'bench:message', payload: { i, big } } })),
      );
      if (i % 10 === 9) {
        await stack().nats.flush();
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await expect.poll(() => reader.frames.filter((f) => f[3] === 'bench:message').length, { timeout: 20_000 }).toBe(total);
    expect(reader.isOpen).toBe(true);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect(closed.code).not.toBe(1000);
    expect(slow.frames.filter((f) => f[3] === 'bench:message').length).toBeLessThan(total);
  });
});
