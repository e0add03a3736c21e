import { describe, expect, it } from 'vitest';
import { JoinAdmission, type QueuedJoin } from './join-admission.js';

/** A join the test finishes by hand, recording what happened to it. */
function join(log: string[], name: string, opts: { abandoned?: () => boolean } = {}) {
  let finish!: () => void;
  const j: QueuedJoin & { finish: () => void } = {
    start: () => {
      log.push(`start ${name}`);
      return new Promise<void>((r) => (finish = r));
    },
    refuse: () => log.push(`refuse ${name}`),
    abandoned: opts.abandoned ?? (() => false),
    finish: () => finish(),
  };
  return j;
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('JoinAdmission', () => {
  it('starts up to maxRunning at once; the rest wait (not refused) and start as turns come back', async () => {
    const log: string[] = [];
    const admission = new JoinAdmission({ maxRunning: 2, maxQueued: 10, maxWaitMs: 60_000 });
    const [a, b, c] = [join(log, 'a'), join(log, 'b'), join(log, 'c')];
    expect([admission.offer('r1', a), admission.offer('r2', b), admission.offer('r3', c)]).toEqual([true, true, true]);
    expect(log).toEqual(['start a', 'start b']);
    expect(admission.counts).toEqual({ running: 2, queued: 1 });
    a.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    expect(admission.counts).toEqual({ running: 2, queued: 0 });
  });

  it("a room's waiting joins start together when its turn comes, ahead of rooms that came later", async () => {
    const log: string[] = [];
    const admission = new JoinAdmission({ maxRunning: 2, maxQueued: 10, maxWaitMs: 60_000 });
    const first = join(log, 'first');
    admission.offer('r0', first);
    admission.offer('r0', join(log, 'second'));
    admission.offer('r1', join(log, 'r1-a'));
    admission.offer('r2', join(log, 'r2-a'));
    admission.offer('r1', join(log, 'r1-b'));
    first.finish();
    await settle();
    // One turn back, and both of r1's start (they share a read): r2 waits.
    expect(log).toEqual(['start first', 'start second', 'start r1-a', 'start r1-b']);
    expect(admission.counts).toEqual({ running: 3, queued: 1 });
  });

  it('refuses only when maxQueued are waiting; a join that waited past maxWaitMs is refused at its turn', async () => {
    const log: string[] = [];
    let now = 0;
    const admission = new JoinAdmission({ maxRunning: 1, maxQueued: 2, maxWaitMs: 1_000 }, () => now);
    const first = join(log, 'first');
    admission.offer('r0', first);
    expect(admission.offer('r1', join(log, 'old'))).toBe(true);
    now = 900;
    expect(admission.offer('r2', join(log, 'young'))).toBe(true);
    expect(admission.offer('r3', join(log, 'over'))).toBe(false);
    now = 1_500;
    first.finish();
    await settle();
    // 'old' waited 1,500 ms: refused (it would come back later); 'young' 600 ms: started.
    expect(log).toEqual(['start first', 'refuse old', 'start young']);
  });

  it('drops a waiting join nobody wants any more (socket closed, joined again) without answering it', async () => {
    const log: string[] = [];
    const admission = new JoinAdmission({ maxRunning: 1, maxQueued: 10, maxWaitMs: 60_000 });
    const first = join(log, 'first');
    admission.offer('r0', first);
    let gone = false;
    admission.offer('r1', join(log, 'gone', { abandoned: () => gone }));
    admission.offer('r2', join(log, 'kept'));
    gone = true;
    first.finish();
    await settle();
    expect(log).toEqual(['start first', 'start kept']);
  });

  it('gives the turn back when a join fails', async () => {
    const log: string[] = [];
    const admission = new JoinAdmission({ maxRunning: 1, maxQueued: 10, maxWaitMs: 60_000 });
    admission.offer('r0', { start: () => Promise.reject(new Error('boom')), refuse: () => undefined, abandoned: () => false });
    admission.offer('r1', join(log, 'next'));
    await settle();
    expect(log).toEqual(['start next']);
  });
});

/** Finishes the first `count` joins one by one, the clock moving `stepMs` before each. */
async function finishFirst(joins: Array<{ finish: () => void }>, count: number, stepMs: number, clock: { now: number }) {
  for (const j of joins.slice(0, count)) {
    clock.now += stepMs;
    j.finish();
    await settle();
  }
}

describe('JoinAdmission: a line as long as the joins that finish in maxWaitMs', () => {
  it('while nothing has finished yet, the retry-after is the fixed spread, minMs × [1, 2)', () => {
    const admission = new JoinAdmission(
      { maxRunning: 1, maxQueued: 100, maxWaitMs: 60_000 },
      () => 1_000_000,
      () => 0.5,
    );
    expect(admission.retryAfterMs(1_000)).toBe(1_500);
  });

  it('refuses at once a join that would wait past maxWaitMs, and tells it to come back within half of that', async () => {
    const clock = { now: 1_000_000 };
    let random = 0.5;
    const admission = new JoinAdmission(
      { maxRunning: 10, maxQueued: 10_000, maxWaitMs: 8_000 },
      () => clock.now,
      () => random,
    );
    const log: string[] = [];
    // Nothing finished yet: the line takes all (up to maxQueued).
    const joins = Array.from({ length: 1_010 }, (_, i) => join(log, `j${i}`));
    expect(joins.every((j) => admission.offer('r', j))).toBe(true);
    // 100 joins finish within the next 5 s (the rate's window): 20 per second.
    await finishFirst(joins, 100, 49, clock);
    expect(admission.counts).toEqual({ running: 10, queued: 900 });
    // 910 ahead at 20 per second is 45.5 s, past the 8 s bound: refused now, not after waiting 8 s...
    expect(admission.offer('r', join(log, 'late'))).toBe(false);
    expect(log).not.toContain('refuse late');
    // ...and back when 4 s of work is left ahead, but no later than 4 s (± 25 %): the line must not run dry.
    expect(admission.retryAfterMs(1_000)).toBe(4_000);
    random = 0;
    expect(admission.retryAfterMs(1_000)).toBe(3_000);
    random = 0.999;
    expect(admission.retryAfterMs(1_000)).toBe(4_998);
    // Nothing finished for over 5 s: the rate is unknown again, and the fixed spread is given.
    clock.now += 6_000;
    random = 0.5;
    expect(admission.retryAfterMs(1_000)).toBe(1_500);
  });

  it('takes a join whose wait at the current rate fits in maxWaitMs', async () => {
    const clock = { now: 1_000_000 };
    const admission = new JoinAdmission(
      { maxRunning: 2, maxQueued: 100, maxWaitMs: 8_000 },
      () => clock.now,
      () => 0.5,
    );
    const log: string[] = [];
    const joins = Array.from({ length: 12 }, (_, i) => join(log, `j${i}`));
    joins.forEach((j) => admission.offer('r', j));
    await finishFirst(joins, 10, 100, clock);
    // 10 finished in the 1 s the line has been busy: 10 per second; 2 running + 0 waiting = 0.2 s ahead.
    expect(admission.counts).toEqual({ running: 2, queued: 0 });
    expect(admission.offer('r', join(log, 'next'))).toBe(true);
    expect(admission.retryAfterMs(1_000)).toBe(1_500);
  });
});

describe('JoinAdmission: the rate of a storm that follows a quiet spell', () => {
  it('is measured over the time the line has been busy, not over the whole window: a join it serves in time is taken', async () => {
    const clock = { now: 1_000_000 };
    const admission = new JoinAdmission(
      { maxRunning: 100, maxQueued: 10_000, maxWaitMs: 8_000 },
      () => clock.now,
      () => 0.5,
    );
    const log: string[] = [];
    // Quiet for a minute, then 3,000 joins at once.
    const joins = Array.from({ length: 3_000 }, (_, i) => join(log, `j${i}`));
    expect(joins.every((j) => admission.offer('r', j))).toBe(true);
    // 600 finish in the first 600 ms: 1,000 a second.
    await finishFirst(joins, 600, 1, clock);
    expect(admission.counts).toEqual({ running: 100, queued: 2_300 });
    // 2,400 ahead at 1,000 a second is 2.4 s: within the 8 s bound, taken. Averaged over the 5 s
    // window (120 a second: 20 s) it was refused, and told to stay away 3 to 5 s.
    expect(admission.offer('r', join(log, 'late'))).toBe(true);
    expect(admission.retryAfterMs(1_000)).toBe(1_500);
  });

  it('does not judge in the first half second of a busy spell: joins wait in line up to maxQueued', async () => {
    const clock = { now: 1_000_000 };
    const admission = new JoinAdmission(
      { maxRunning: 10, maxQueued: 1_000, maxWaitMs: 8_000 },
      () => clock.now,
      () => 0.5,
    );
    const log: string[] = [];
    const joins = Array.from({ length: 500 }, (_, i) => join(log, `j${i}`));
    joins.forEach((j) => admission.offer('r', j));
    // One finished after 100 ms: 10 a second would be 49 s for the 490 ahead, but one is too few to tell.
    await finishFirst(joins, 1, 100, clock);
    expect(admission.offer('r', join(log, 'next'))).toBe(true);
  });

  it("forgets the previous busy spell's rate once the line has been idle", async () => {
    const clock = { now: 1_000_000 };
    const admission = new JoinAdmission(
      { maxRunning: 1, maxQueued: 1_000, maxWaitMs: 8_000 },
      () => clock.now,
      () => 0.5,
    );
    const log: string[] = [];
    // A slow spell: 5 joins, one a second.
    const slow = Array.from({ length: 5 }, (_, i) => join(log, `s${i}`));
    slow.forEach((j) => admission.offer('r', j));
    await finishFirst(slow, 5, 1_000, clock);
    expect(admission.counts).toEqual({ running: 0, queued: 0 });
    // Right after, a fast spell: 200 in 0.5 s (400 a second). The slow spell's 5 do not lower it.
    clock.now += 10;
    const fast = Array.from({ length: 1_500 }, (_, i) => join(log, `f${i}`));
    fast.forEach((j) => admission.offer('r', j));
    await finishFirst(fast, 200, 2.5, clock);
    // 1,300 ahead at 400 a second: 3.25 s, taken.
    expect(admission.offer('r', join(log, 'next'))).toBe(true);
  });
});
