import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, NATS_SERVER_MISSING, natsServerConfig } from './nats-server.js';

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

describe('natsServerConfig', () => {
  it('allows 4 MB messages, as infra/nats/nats.conf does', () => {
    expect(natsServerConfig('/tmp/x/siteflow-nats.conf')).toBe('max_payload: 4MB\n');
  });

  it('includes a config by its path relative to the generated file (nats-server resolves it from there)', () => {
    const text = natsServerConfig('/tmp/run-1/nats/siteflow-nats.conf', '/repo/infra/nats/auth.conf');
    expect(text).toBe('max_payload: 4MB\ninclude "../../../repo/infra/nats/auth.conf"\n');
    expect(path.posix.resolve('/tmp/run-1/nats', '../../../repo/infra/nats/auth.conf')).toBe('/repo/infra/nats/auth.conf');
  });
});
