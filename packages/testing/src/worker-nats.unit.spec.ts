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

  it('takes over the lease of a process that died without letting go', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    const pid = dead.pid!;
    await new Promise((r) => dead.on('exit', r));
    await writeFile(path.join(dir, '0.lock'), String(pid));
    await writeFile(path.join(dir, '1.lock'), String(process.ppid)); // a live process holds the other
    expect((await leaseOne(urls, dir, 2_000)).url).toBe(urls[0]);
  });
});
