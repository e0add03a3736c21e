import { readFileSync, unlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import type {} from './provided-context.js';

/** Where the NATS this test file holds is kept once leased (the worker's setup file leases it). */
const LEASED = 'SITEFLOW_TEST_NATS_URL';

/**
 * The NATS of this test file. The int tier may run files in parallel (INT_WORKERS), each running
 * file holding a nats-server of its own (global setup): a file's stack starts by deleting every
 * JetStream stream, which must not reach a file running beside it. Postgres is shared: each file has a database of
 * its own. Leased by the setup file (`leaseTestNats`) before the file's tests run.
 */
export function testNatsUrl(): string {
  const url = process.env[LEASED];
  if (!url) throw new Error('no NATS leased for this test file: the int/e2e projects run packages/testing/dist/worker-setup.js first');
  return url;
}

/**
 * Leases one of the run's NATS servers for this process, until `release` (or the process's exit).
 * A lease is a file created exclusively (`<natsLeaseDir>/<index>.lock`, holding the pid): workers
 * are separate processes, and vitest's VITEST_POOL_ID is not unique after an earlier project ran
 * (two files of the int tier both saw 1). A lease whose process is gone is taken over. With as
 * many servers as workers one is always free; otherwise this waits for one, up to `waitMs`.
 */
export async function leaseTestNats(waitMs = 120_000): Promise<NatsLease> {
  const lease = await leaseOne(inject('natsUrls'), inject('natsLeaseDir'), waitMs);
  process.env[LEASED] = lease.url;
  return lease;
}

export interface NatsLease {
  url: string;
  release(): Promise<void>;
}

/** One of `urls` that no other live process holds, locked in `dir` for this process (leaseTestNats). */
export async function leaseOne(urls: readonly string[], dir: string, waitMs: number): Promise<NatsLease> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    for (const [i, url] of urls.entries()) {
      const file = path.join(dir, `${i}.lock`);
      if (!(await tryLock(file))) continue;
      let released = false;
      const releaseSync = () => {
        if (!released) unlinkIfOurs(file);
      };
      process.once('exit', releaseSync);
      return {
        url,
        release: async () => {
          released = true;
          process.off('exit', releaseSync);
          await unlink(file).catch(() => undefined);
        },
      };
    }
    if (Date.now() > deadline) throw new Error(`no free NATS for this test file after ${waitMs} ms (${urls.length} for the run)`);
    await sleep(100);
  }
}

/**
 * Creates the lock with this process's pid already in it (written aside, then hard-linked into
 * place: `link` fails if the name exists), so no other process ever reads a lock without its
 * holder. A lock whose holder died is moved aside (`rename`: one process wins it) and taken on the
 * next round; one that turns out live (created between the read and the move) is put back.
 */
async function tryLock(file: string): Promise<boolean> {
  const mine = `${file}.${process.pid}.${randomUUID()}`;
  await writeFile(mine, String(process.pid));
  try {
    await link(mine, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(mine).catch(() => undefined);
  }
  if (!(await heldByTheDead(file))) return false;
  const grave = `${file}.stale.${process.pid}.${randomUUID()}`;
  try {
    await rename(file, grave);
  } catch {
    return false; // another process moved it first
  }
  if (!(await heldByTheDead(grave))) await link(grave, file).catch(() => undefined);
  await unlink(grave).catch(() => undefined);
  return false; // tried again on the next round, exclusively
}

/** A lock whose holder is gone. One without a pid (not ours: ours are written whole) is held until it is a minute old. */
async function heldByTheDead(file: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return false; // gone: the next round tries it
  const holder = Number(text);
  if (Number.isInteger(holder) && holder > 0) return !alive(holder);
  const age = await stat(file).then(
    (st) => Date.now() - st.mtimeMs,
    () => 0,
  );
  return age > 60_000;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Synchronous: runs in the process's 'exit' handler. */
function unlinkIfOurs(file: string): void {
  try {
    if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
  } catch {
    // gone already
  }
}
