import { describe, expect, it } from 'vitest';
import { ReconnectPolicy } from './reconnect.js';

/** A Phoenix v2 frame as the gateway writes it. */
const frame = (...parts: unknown[]) => JSON.stringify(parts);

function decoded(policy: ReconnectPolicy, raw: string): unknown {
  let out: unknown;
  policy.decode(raw, (message) => (out = message));
  return out;
}

describe('ReconnectPolicy: jittered reconnects that honour a retry-after', () => {
  it('spreads 10,000 sockets that lost their gateway over the window instead of one instant', () => {
    const policy = new ReconnectPolicy({ baseMs: 500, capMs: 10_000, minMs: 100 });
    const first = Array.from({ length: 10_000 }, () => policy.reconnectAfterMs(1));
    expect(Math.min(...first)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...first)).toBeLessThanOrEqual(500);
    // Roughly uniform: no 50 ms slice of the window holds more than a fifth of them.
    const slices = new Map<number, number>();
    for (const d of first) slices.set(Math.floor(d / 50), (slices.get(Math.floor(d / 50)) ?? 0) + 1);
    expect(Math.max(...slices.values())).toBeLessThan(2_000);
    // Later tries wait longer, up to the cap.
    const fifth = Array.from({ length: 1_000 }, () => policy.reconnectAfterMs(5));
    expect(Math.max(...fifth)).toBeLessThanOrEqual(8_000);
    expect(fifth.filter((d) => d > 4_000).length).toBeGreaterThan(300);
    expect(Math.max(...Array.from({ length: 1_000 }, () => policy.reconnectAfterMs(40)))).toBeLessThanOrEqual(10_000);
  });

  it('does not rejoin before the retry-after of a join the gateway refused for load', () => {
    let now = 1_000_000;
    const policy = new ReconnectPolicy({ random: () => 0, now: () => now });
    expect(policy.rejoinAfterMs(1)).toBe(100);
    const refusal = frame('3', '3', 'project:1', 'phx_reply', {
      status: 'error',
      response: { code: 'rate_limited', reason: 'busy', details: { retry_after_ms: 1_700 } },
    });
    // Decoded as Phoenix's own decoder would, so the channel still sees the refusal.
    expect(decoded(policy, refusal)).toMatchObject({ join_ref: '3', ref: '3', topic: 'project:1', event: 'phx_reply' });
    expect(policy.rejoinAfterMs(1)).toBe(1_700);
    now += 1_000;
    expect(policy.rejoinAfterMs(1)).toBe(700);
    now += 1_000;
    expect(policy.rejoinAfterMs(1)).toBe(100);
  });

  it('ignores other replies, and caps a hostile retry-after at a minute', () => {
    const now = 5_000;
    const policy = new ReconnectPolicy({ random: () => 0, now: () => now });
    decoded(policy, frame(null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: { details: { retry_after_ms: 9_000 } } }));
    decoded(policy, frame('2', '2', 'project:1', 'phx_reply', { status: 'error', response: { details: { retry_after_ms: 'soon' } } }));
    expect(policy.rejoinAfterMs(1)).toBe(100);
    decoded(policy, frame('2', '2', 'project:1', 'phx_reply', { status: 'error', response: { details: { retry_after_ms: 1e12 } } }));
    expect(policy.rejoinAfterMs(1)).toBe(60_000);
  });
});
