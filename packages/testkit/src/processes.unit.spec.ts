import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandFor, installedServiceCommand } from './processes.js';

describe('where the services come from', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  const tempDir = async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'testkit-resolve-'));
    dirs.push(dir);
    return dir;
  };

  it('finds an installed service package from a directory below it and runs its main with node', async () => {
    const root = await tempDir();
    const pkg = path.join(root, 'node_modules', '@siteflow', 'chat');
    await mkdir(path.join(pkg, 'dist'), { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: '@siteflow/chat', main: './dist/main.js' }));
    await writeFile(path.join(pkg, 'dist', 'main.js'), '');
    const nested = path.join(root, 'suites', 'rooms');
    await mkdir(nested, { recursive: true });
    expect(installedServiceCommand('chat', nested)).toEqual({
      command: process.execPath,
      args: [path.join(pkg, 'dist', 'main.js')],
      cwd: pkg,
    });
  });

  it('says how to provide the services when none is installed, or when one is not built', async () => {
    const root = await tempDir();
    expect(() => installedServiceCommand('gateway', root)).toThrow(/@siteflow\/gateway is not installed .*siteflowRoot.*command/s);
    const pkg = path.join(root, 'node_modules', '@siteflow', 'gateway');
    await mkdir(pkg, { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: '@siteflow/gateway', main: './dist/main.js' }));
    expect(() => installedServiceCommand('gateway', root)).toThrow(/its \.\/dist\/main\.js does not exist: is it built\?/);
  });

  it('prefers a command of the tester', () => {
    const command = { command: '/usr/local/bin/run-siteflow', args: ['presence'] };
    expect(commandFor('presence', { command: () => command, siteflowRoot: '/nowhere' })).toBe(command);
  });
});
