import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { handle, limitCommands, withRequestTimeout } from './handle.js';

const logger = pino({ level: 'silent' });

/** A command whose work waits until released; records that it ran. */
function blockingCommand() {
  const ran: string[] = [];
  const releases: Array<() => void> = [];
  const run = (name: string) =>
    handle(logger, 'test.command', z.object({}), {}, async () => {
      ran.push(name);
      await new Promise<void>((resolve) => releases.push(resolve));
      return name;
    });
  const releaseAll = () => {
    for (const release of releases.splice(0)) release();
  };
  return { ran, run, releaseAll };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

afterEach(() => limitCommands(null));

describe('commands: bounded concurrency, and work whose caller gave up is dropped', () => {
  it('runs at most maxConcurrent at once; the others wait their turn, in order', async () => {
    limitCommands({ maxConcurrent: 2, maxQueued: 10 });
    const c = blockingCommand();
    const replies = ['a', 'b', 'c', 'd'].map((n) => c.run(n));
    await tick();
    expect(c.ran).toEqual(['a', 'b']);
    c.releaseAll();
    await expect.poll(() => c.ran).toEqual(['a', 'b', 'c', 'd']);
    c.releaseAll();
    expect((await Promise.all(replies)).map((r) => r.ok && r.data)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a flood beyond the queue is refused at once with unavailable and a retry-after, never run', async () => {
    limitCommands({ maxConcurrent: 1, maxQueued: 2 });
    const c = blockingCommand();
    const replies = Array.from({ length: 50 }, (_, i) => c.run(`m${i}`));
    await tick();
    const settled: unknown[] = [];
    for (const r of replies) void r.then((reply) => settled.push(reply));
    await expect.poll(() => settled.length).toBe(47);
    for (const reply of settled)
      expect(reply).toMatchObject({ ok: false, error: { code: 'unavailable', details: { not_run: 'overloaded', retry_after_ms: 1_000 } } });
    for (let i = 0; i < 3; i++) {
      c.releaseAll();
      await tick();
    }
    await Promise.all(replies);
    expect(c.ran).toEqual(['m0', 'm1', 'm2']);
  });

  it('a command still waiting when its caller gives up is dropped, and never runs', async () => {
    limitCommands({ maxConcurrent: 1, maxQueued: 10 });
    const c = blockingCommand();
    const first = c.run('slow');
    const started = performance.now();
    const late = withRequestTimeout(100, () => c.run('late'));
    const reply = await late;
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(reply).toMatchObject({ ok: false, error: { code: 'unavailable', details: { not_run: 'deadline' } } });
    c.releaseAll();
    await first;
    // The turn it gave up went to the next one, not lost.
    const next = c.run('next');
    await tick();
    c.releaseAll();
    expect(await next).toMatchObject({ ok: true, data: 'next' });
    expect(c.ran).toEqual(['slow', 'next']);
  });

  it('a request whose deadline passed before it arrived is not run even with no bound set', async () => {
    const c = blockingCommand();
    const reply = await withRequestTimeout(1, async () => {
      await new Promise((r) => setTimeout(r, 20));
      return c.run('expired');
    });
    expect(reply).toMatchObject({ ok: false, error: { details: { not_run: 'deadline' } } });
    expect(c.ran).toEqual([]);
  });
});
