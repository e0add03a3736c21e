import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leaseOne } from './worker-nats.js';

// The int tier's files run two at a time, each on a NATS of its own: which one is decided by these
// leases, as vitest's VITEST_POOL_ID gave two running files the same number once the unit tier ran.
describe('leasing a NATS for a test file', () => {
  const urls = ['nats://127.0.0.1:1', 'nats://127.0.0.1:2'];
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'siteflow-lease-test-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('gives files running at once different servers, and a released one to the next file', async () => {
    const a = await leaseOne(urls, dir, 1_000);
    const b = await leaseOne(urls, dir, 1_000);
    expect(new Set([a.url, b.url])).toEqual(new Set(urls));
    await a.release();
    const c = await leaseOne(urls, dir, 1_000);
    expect(c.url).toBe(a.url);
    await Promise.all([b.release(), c.release()]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('waits while every server is held, and gets the first one let go', async () => {
    const held = await Promise.all(urls.map(() => leaseOne(urls, dir, 1_000)));
    const waiting = leaseOne(urls, dir, 10_000);
    let got: string | undefined;
    void waiting.then((l) => (got = l.url));
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBeUndefined();
    await held[1]!.release();
    expect((await waiting).url).toBe(held[1]!.url);
    await expect(leaseOne(urls, dir, 200)).rejects.toThrow(/no free NATS/);
  });

  it('a lock file seen before its holder wrote its pid is held, not taken for a dead holder', async () => {
    // What a file leasing at the same moment as another saw: the lock created, its pid not yet in
    // it. Taken over, both files held the same server (the CI-like run at INT_WORKERS=2 where one
    // file's stack deleted the streams of the file beside it).
    await writeFile(path.join(dir, '0.lock'), '');
    expect((await leaseOne(urls, dir, 1_000)).url).toBe(urls[1]);
    expect((await readdir(dir)).sort()).toEqual(['0.lock', '1.lock']);
  });

  it('files leasing at the same moment never share a server', async () => {
    // Two at once, then a third: with both servers held it must wait.
    for (let round = 0; round < 5; round++) {
      const held = await Promise.all(urls.map(() => leaseOne(urls, dir, 1_000)));
      expect(new Set(held.map((l) => l.url))).toEqual(new Set(urls));
      await expect(leaseOne(urls, dir, 150)).rejects.toThrow(/no free NATS/);
      expect((await readdir(dir)).sort()).toEqual(['0.lock', '1.lock']);
      await Promise.all(held.map((l) => l.release()));
    }
  });

  it('takes over the lease of a process that died without letting go', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    const pid = dead.pid!;
    await new Promise((r) => dead.on('exit', r));
    await writeFile(path.join(dir, '0.lock'), String(pid));
    await writeFile(path.join(dir, '1.lock'), String(process.ppid)); // a live process holds the other
    expect((await leaseOne(urls, dir, 2_000)).url).toBe(urls[0]);
  });
});
