import { afterAll, describe, expect, it } from 'vitest';
import { rawSocket, scrapeValue, useStack, type Frame, type RawSocket } from '@siteflow/testing';

const MAX_CONCURRENT_JOINS = 2;
const MAX_QUEUED_JOINS = 4;
const JOIN_RETRY_AFTER_MS = 300;
const SOCKETS = 24;

interface JoinReply {
  status: string;
  response: { code?: string; details?: { retry_after_ms?: number } };
}
const reply = async (s: RawSocket, ref: string): Promise<JoinReply> =>
  (await s.next((f: Frame) => f[1] === ref && f[3] === 'phx_reply', 30_000))[4] as JoinReply;

/**
 * A reconnect storm: every socket of a dead gateway joins here at the same moment. The gateway
 * works on at most MAX_CONCURRENT_JOINS joins at once, lets MAX_QUEUED_JOINS wait in line, and
 * refuses the rest with `rate_limited` and a retry-after; clients that honour it all get in,
 * spread out.
 */
describe('join admission: joins beyond the line are refused with a retry-after, and the refused get in later', () => {
  const stack = useStack({
    processEnv: {
      gateway: {
        MAX_CONCURRENT_JOINS: String(MAX_CONCURRENT_JOINS),
        MAX_QUEUED_JOINS: String(MAX_QUEUED_JOINS),
        JOIN_RETRY_AFTER_MS: String(JOIN_RETRY_AFTER_MS),
      },
    },
  });
  const sockets: RawSocket[] = [];
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close().catch(() => undefined)));
  });

  const retryAfter = (r: JoinReply) => r.response.details?.retry_after_ms ?? 0;

  it('a storm of joins: a few at once, the rest told when to come back, and every one joined in the end', async () => {
    const users = ['alice', 'bob', 'carol'];
    const tokens = await Promise.all(users.map(async (u) => (await stack().devLogin(u)).token));
    for (let i = 0; i < SOCKETS; i++) sockets.push(await rawSocket(stack().socketUrl, tokens[i % tokens.length]!));

    // All at once, as after a gateway died.
    sockets.forEach((s) => s.send(['1', '1', 'project:1', 'phx_join', {}]));
    const first = await Promise.all(sockets.map((s) => reply(s, '1')));
    const admitted = first.filter((r) => r.status === 'ok');
    const refused = first.filter((r) => r.status === 'error');
    expect(admitted.length + refused.length).toBe(SOCKETS);
    expect(admitted.length).toBeGreaterThanOrEqual(MAX_CONCURRENT_JOINS + MAX_QUEUED_JOINS);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.response.code).toBe('rate_limited');
      expect(retryAfter(r)).toBeGreaterThanOrEqual(JOIN_RETRY_AFTER_MS);
      // [JOIN_RETRY_AFTER_MS, 2×) while the line drains sooner; once the gateway has measured its rate
      // and the line is long, up to half of JOIN_QUEUE_MAX_WAIT_MS (8 s) ± 25 % (docs/protocol.md).
      expect(retryAfter(r)).toBeLessThan(Math.max(2 * JOIN_RETRY_AFTER_MS, 1.25 * 4_000));
    }
    // The retry-afters are spread, not one instant for all.
    const delays = refused.map(retryAfter);
    expect(new Set(delays).size).toBeGreaterThan(Math.min(5, refused.length / 2));

    // Each refused socket comes back when told to (and again if refused again), until joined.
    const started = Date.now();
    const joined = await Promise.all(
      sockets.map(async (s, i) => {
        let last = first[i]!;
        for (let attempt = 2; last.status !== 'ok'; attempt++) {
          if (attempt > 60) throw new Error(`socket ${i} still refused after ${attempt} tries`);
          await new Promise((r) => setTimeout(r, retryAfter(last)));
          const ref = String(attempt);
          s.send([ref, ref, 'project:1', 'phx_join', {}]);
          last = await reply(s, ref);
          if (last.status === 'error') expect(last.response.code).toBe('rate_limited');
        }
        return last;
      }),
    );
    expect(joined.every((r) => r.status === 'ok')).toBe(true);
    console.log(
      `join storm: ${SOCKETS} sockets, ${admitted.length} admitted at once, ${refused.length} refused then joined within ${Date.now() - started} ms`,
    );
  }, 120_000);
});

describe('join admission: a storm within the line waits its turn instead of being refused', () => {
  // No wait bound to speak of: on a loaded machine 24 joins two at a time may take longer than the
  // default 8 s, and this test is about waiting instead of being refused, not about the bound.
  const stack = useStack({
    processEnv: { gateway: { MAX_CONCURRENT_JOINS: String(MAX_CONCURRENT_JOINS), JOIN_QUEUE_MAX_WAIT_MS: '60000' } },
  });
  const sockets: RawSocket[] = [];
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close().catch(() => undefined)));
  });

  it('every join of the storm is answered ok on its first try, MAX_CONCURRENT_JOINS at a time', async () => {
    const users = ['alice', 'bob', 'carol'];
    const tokens = await Promise.all(users.map(async (u) => (await stack().devLogin(u)).token));
    for (let i = 0; i < SOCKETS; i++) sockets.push(await rawSocket(stack().socketUrl, tokens[i % tokens.length]!));
    sockets.forEach((s) => s.send(['1', '1', 'project:1', 'phx_join', {}]));
    const first = await Promise.all(sockets.map((s) => reply(s, '1')));
    expect(first.map((r) => r.status)).toEqual(sockets.map(() => 'ok'));
    // They waited in one line for one room: a handful of snapshot reads served all of them.
    const counter = (name: string) => scrapeValue(`${stack().gatewayUrl}/metrics`, name);
    const [reads, shared] = await Promise.all([
      counter('siteflow_gateway_snapshot_reads_total'),
      counter('siteflow_gateway_snapshot_reads_shared_total'),
    ]);
    expect(reads + shared).toBe(SOCKETS);
    expect(reads).toBeLessThan(SOCKETS);
  }, 120_000);
});
