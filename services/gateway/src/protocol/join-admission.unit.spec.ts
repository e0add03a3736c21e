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
