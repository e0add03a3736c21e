import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { findExecutable, freePort } from '@siteflow/devstack';
import { createTestDatabase, type TestDatabase, testNatsUrl } from '@siteflow/testing';

/**
 * A service or the gateway run by hand (`node services/<name>/dist/main.js`, `npm start -w …`)
 * logs readable lines on a terminal and JSON otherwise, as `npm start` does for the whole stack.
 * The terminal is real: the process runs under util-linux `script`, which gives it a pseudo-terminal.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const mainOf = (name: string) => path.join(root, 'services', name, 'dist', 'main.js');

// eslint-disable-next-line no-control-regex -- the terminal's colour codes, removed before matching
const COLOUR_CODES = /\x1b\[[0-9;]*m/g;

interface Run {
  child: ChildProcess;
  output(): string;
}

const runs: Run[] = [];

/** Starts `main` with `env` only (nothing inherited but PATH), on a terminal or on a pipe. */
function run(main: string, env: Record<string, string>, terminal: boolean): Run {
  const fullEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env };
  const child = terminal
    ? spawn('script', ['-qefc', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(main)}`, '/dev/null'], {
        env: { ...fullEnv, TERM: 'xterm' },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, [main], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const r = { child, output: () => text };
  runs.push(r);
  return r;
}

/** The output's lines once one contains `marker`, colour codes and carriage returns removed. */
async function linesUntil(r: Run, marker: string): Promise<string[]> {
  const plain = () => r.output().replace(COLOUR_CODES, '').replace(/\r/g, '');
  await expect.poll(() => plain().includes(marker) || r.child.exitCode !== null, { timeout: 30_000, interval: 100 }).toBe(true);
  expect(plain(), 'the process is still running').toContain(marker);
  return plain()
    .split('\n')
    .filter((l) => l !== '');
}

async function stop(r: Run): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill('SIGTERM');
  await exited;
}

const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /;

describe('a process run by hand: readable logs on a terminal, JSON otherwise', () => {
  let db: TestDatabase;
  const natsUrl = testNatsUrl();
  const gatewayEnv = async () => ({
    NATS_URL: natsUrl,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    JWT_SECRET: 'a-test-secret-of-at-least-thirty-two-characters',
    LOG_LEVEL: 'info',
  });

  beforeAll(async () => {
    if (!findExecutable('script')) throw new Error('util-linux script is needed to give the process a terminal');
    db = await createTestDatabase(inject('databaseUrl'));
  });
  afterEach(async () => {
    for (const r of runs.splice(0)) await stop(r);
  });
  afterAll(async () => {
    await (db as TestDatabase | undefined)?.drop(); // unset when beforeAll failed
  });

  it('the gateway on a terminal: one readable line per entry, time, level, service and message', async () => {
    const lines = await linesUntil(run(mainOf('gateway'), await gatewayEnv(), true), 'gateway listening');
    const listening = lines.find((l) => l.includes('gateway listening'))!;
    expect(listening).toMatch(PRETTY_LINE);
    expect(listening).toMatch(/INFO: gateway \| gateway listening \{"port":\d+,/);
    for (const line of lines) expect(line, 'no JSON line').not.toMatch(/^\{"level"/);
  });

  it('the gateway on a pipe, or on a terminal with LOG_FORMAT=json: JSON lines', async () => {
    for (const [terminal, extra] of [
      [false, {}],
      [true, { LOG_FORMAT: 'json' }],
    ] as const) {
      const lines = await linesUntil(run(mainOf('gateway'), { ...(await gatewayEnv()), ...extra }, terminal), 'gateway listening');
      const listening = JSON.parse(lines.find((l) => l.includes('gateway listening'))!) as Record<string, unknown>;
      expect(listening).toMatchObject({ level: 30, service: 'gateway', msg: 'gateway listening' });
      expect(listening.time).toEqual(expect.any(Number));
    }
  });

  it("a service on a terminal: readable lines, and none of Nest's bootstrap narration at info", async () => {
    const r = run(
      mainOf('chat'),
      { NATS_URL: natsUrl, DATABASE_URL: db.url, LOG_LEVEL: 'info', METRICS_PORT: '0', INSTANCE_ID: 'chat-by-hand' },
      true,
    );
    const lines = await linesUntil(r, 'chat service listening');
    expect(lines.find((l) => l.includes('chat service listening'))).toMatch(/INFO: chat \| chat service listening \{"queue":"chat"\}$/);
    for (const line of lines) {
      expect(line).toMatch(PRETTY_LINE);
      expect(line).not.toMatch(/InstanceLoader|RoutesResolver|RouterExplorer|NestFactory|NestMicroservice/);
    }
  });

  it('LOG_FORMAT other than json or pretty is refused, naming the variable (exit 78)', async () => {
    const r = run(mainOf('gateway'), { ...(await gatewayEnv()), LOG_FORMAT: 'xml' }, false);
    const code = await new Promise((resolve) => r.child.once('exit', resolve));
    expect(code).toBe(78);
    expect(r.output()).toContain('invalid configuration: LOG_FORMAT');
  });
});
