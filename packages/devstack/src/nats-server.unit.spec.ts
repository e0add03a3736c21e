import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, NATS_SERVER_MISSING } from './nats-server.js';

describe('findExecutable', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'devstack-path-'));
    await writeFile(path.join(dir, 'tool'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'tool'), 0o755);
    await writeFile(path.join(dir, 'not-executable'), '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds an executable on the search path', () => {
    expect(findExecutable('tool', ['/nonexistent', dir].join(path.delimiter), [])).toBe(path.join(dir, 'tool'));
  });

  it('falls back to the extra directories', () => {
    expect(findExecutable('tool', '', [dir])).toBe(path.join(dir, 'tool'));
  });

  it('ignores missing and non-executable files and directories', () => {
    expect(findExecutable('not-executable', dir, [])).toBeUndefined();
    expect(findExecutable('missing', dir, [])).toBeUndefined();
    expect(findExecutable(path.basename(dir), path.dirname(dir), [])).toBeUndefined();
  });
});

describe('NATS_SERVER_MISSING', () => {
  it('names every way to get a NATS', () => {
    expect(NATS_SERVER_MISSING).toContain('apt-get install nats-server');
    expect(NATS_SERVER_MISSING).toContain('release binary');
    expect(NATS_SERVER_MISSING).toContain('NATS_URL');
  });
});
