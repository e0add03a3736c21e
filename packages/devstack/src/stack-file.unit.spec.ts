import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStackFile, redactUrl, removeStackFile, writeStackFile, type StackFile } from './stack-file.js';

describe('redactUrl', () => {
  it('hides passwords, also in a list of servers', () => {
    expect(redactUrl('postgres://postgres:s3cr%40t@127.0.0.1:5432/siteflow')).toBe('postgres://postgres:***@127.0.0.1:5432/siteflow');
    expect(redactUrl('nats://chat:pw1@a:4222,nats://chat:pw1@b:4222')).toBe('nats://chat:***@a:4222,nats://chat:***@b:4222');
    expect(redactUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
    expect(redactUrl('nats://token@127.0.0.1:4222')).toBe('nats://token@127.0.0.1:4222');
  });
});

describe('writeStackFile', () => {
  it('writes what readStackFile reads, for its owner only', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'stack-file-'));
    try {
      const file = path.join(dir, 'stack.json');
      const stack: StackFile = {
        supervisorPid: 1,
        startedAt: new Date(0).toISOString(),
        natsUrl: 'nats://127.0.0.1:4222',
        databaseUrl: 'postgres://postgres:pw@127.0.0.1:5432/siteflow',
        processes: [{ name: 'nats', role: 'nats', pid: 2, urls: { nats: 'nats://127.0.0.1:4222', monitoring: 'http://127.0.0.1:8222' } }],
      };
      await writeStackFile(file, stack);
      expect(readStackFile(file)).toEqual(stack);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      await removeStackFile(file);
      expect(() => readStackFile(file)).toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
