import { describe, expect, it } from 'vitest';
import { SerialByKey } from './serial.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('SerialByKey', () => {
  it('runs the work of one key one at a time, in call order', async () => {
    const serial = new SerialByKey<number>();
    const log: string[] = [];
    let running = 0;
    const job = (name: string) => async () => {
      running++;
      expect(running).toBe(1);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([serial.run(1, job('a')), serial.run(1, job('b')), serial.run(1, job('c'))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('a failure reaches its caller only; the next work still runs', async () => {
    const serial = new SerialByKey<string>();
    const failed = serial.run('k', () => Promise.reject(new Error('boom')));
    const next = serial.run('k', () => Promise.resolve('fine'));
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('fine');
  });

  it('different keys do not wait for each other', async () => {
    const serial = new SerialByKey<number>();
    let release!: () => void;
    const blocked = serial.run(1, () => new Promise<string>((r) => (release = () => r('one'))));
    await expect(serial.run(2, () => Promise.resolve('two'))).resolves.toBe('two');
    release();
    await expect(blocked).resolves.toBe('one');
  });

  it('idle waits for the work queued for a key so far; allIdle for every key, failures included', async () => {
    const serial = new SerialByKey<number>();
    const done: number[] = [];
    let release!: () => void;
    void serial.run(1, () => new Promise<void>((r) => (release = r)).then(() => done.push(1)));
    void serial
      .run(2, async () => {
        await tick();
        throw new Error('boom');
      })
      .catch(() => undefined);
    const idle1 = serial.idle(1).then(() => done.push(10));
    const all = serial.allIdle().then(() => done.push(100));
    await serial.idle(2);
    expect(done).toEqual([]);
    release();
    await Promise.all([idle1, all]);
    expect(done).toEqual([1, 10, 100]);
    await expect(serial.idle(3)).resolves.toBeUndefined();
  });
});
