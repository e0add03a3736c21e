import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Socket } from 'phoenix';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RoomSnapshot } from '@siteflow/contracts';
import { canConnect, findExecutable, freePort, type ProcessExit } from '@siteflow/devstack';
import {
  connectClient,
  createTestDatabase,
  devLogin,
  joinChannel,
  NpmStartRun,
  push,
  recordEvents,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';

/**
 * `npm start` as a person runs it (scripts/start.mjs, already built: --no-build), on a fresh data
 * directory and free ports so it collides with nobody's `npm start` or test run (the runner,
 * `NpmStartRun`, is the fault suite's too). Faults are injected by pid, taken from the stack.json
 * it writes.
 */

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line names `dir` (nats-server -sd, postgres -D). */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(dir)) found.push(`${entry}: ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/**
 * A client joins project 1 and chats: its message comes back as a broadcast. Retried until the
 * system has recovered (a join or push during recovery may be refused); resolves with the
 * snapshot of the join that worked.
 */
async function joinAndChat(port: number, text: string, timeoutMs: number): Promise<RoomSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    let socket: Socket | undefined;
    try {
      socket = await connectClient(`ws://127.0.0.1:${port}/socket`, (await devLogin(`http://127.0.0.1:${port}`, 'alice')).token);
      const channel = socket.channel('project:1', {});
      const snapshot = await joinChannel<RoomSnapshot>(channel, 10_000);
      const received = recordEvents(channel, 'chat:new_message');
      const reply = await push(channel, 'chat:message', { text });
      if (reply.status !== 'ok') throw new Error(`chat:message answered ${reply.status}: ${JSON.stringify(reply.response)}`);
      await expect.poll(() => received.events.some((m) => m.text === text), { timeout: 10_000 }).toBe(true);
      return snapshot;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      socket?.disconnect();
    }
  }
  throw new Error(`no working chat within ${timeoutMs} ms: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`);
}

describe('npm start supervises its own NATS and Postgres, and stops in order', () => {
  let dir: string;
  let run: NpmStartRun;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sf-start-'));
    // Under root PostgreSQL runs as the postgres user, which must enter the directory.
    await chmod(dir, 0o755);
    run = await NpmStartRun.launch({ dataDir: path.join(dir, 'data') });
    await run.waitUntilReady();
  });

  afterAll(async () => {
    await (run as NpmStartRun | undefined)?.destroy(); // undefined when the start failed
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists every process in stack.json with its role, pid and URLs; each metrics URL serves its metrics', async () => {
    const stack = run.stack();
    expect(stack.supervisorPid).toBe(run.child.pid);
    expect(stack.processes.map((p) => [p.name, p.role]).sort()).toEqual(
      [
        ['chat', 'service'],
        ['checklist', 'service'],
        ['documents', 'service'],
        ['gateway', 'gateway'],
        ['nats', 'nats'],
        ['postgres', 'postgres'],
        ['presence', 'service'],
      ].sort(),
    );
    for (const p of stack.processes) expect(isAlive(p.pid), `${p.name} (pid ${p.pid}) runs`).toBe(true);
    const byName = new Map(stack.processes.map((p) => [p.name, p]));
    expect(byName.get('gateway')?.urls.http).toBe(`http://localhost:${run.port}`);
    expect(byName.get('nats')?.urls.nats).toBe(stack.natsUrl);
    expect(byName.get('nats')?.urls.monitoring).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(byName.get('postgres')?.urls.postgres).toBe(stack.databaseUrl);
    for (const name of ['chat', 'documents', 'presence', 'checklist'])
      expect(byName.get(name)?.urls.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(byName.get('gateway')?.urls.metrics).toBe(`http://localhost:${run.port}/metrics`);
    // What an operator (or Prometheus) finds there: the process's own families, named by it.
    for (const p of stack.processes.filter((p) => p.urls.metrics !== undefined)) {
      const res = await fetch(p.urls.metrics!, { signal: AbortSignal.timeout(10_000) });
      expect(res.status, p.name).toBe(200);
      const text = await res.text();
      expect(text, p.name).toContain(`process_resident_memory_bytes{service="${p.name}"}`);
      expect(text, p.name).toContain(p.role === 'gateway' ? 'siteflow_gateway_open_sockets' : 'siteflow_outbox_relay_leader');
    }
  });

  it('restarts nats-server after a SIGKILL on the same port, says so, and clients chat again', async () => {
    await joinAndChat(run.port, 'before nats dies', 30_000);
    const before = run.stack();
    const pid = run.pidOf('nats');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    await expect.poll(() => run.pidOf('nats'), { timeout: 30_000, interval: 100 }).not.toBe(pid);
    const newPid = run.pidOf('nats');
    expect(isAlive(newPid)).toBe(true);
    expect(run.stack().natsUrl).toBe(before.natsUrl);
    const natsLines = run
      .ownEntries()
      .filter((e) => e.process === 'nats')
      .map((e) => e.msg);
    expect(natsLines).toContain('exited (SIGKILL); restarting in 0.5 s');
    expect(natsLines).toContain(`restarted (pid ${newPid}): same port, data kept`);

    await joinAndChat(run.port, 'after nats came back', 45_000);
    console.log(`nats-server killed → chat round trip again after ${Date.now() - killedAt} ms`);
  });

  it('restarts Postgres after a SIGKILL with its data: a message posted before is still there', async () => {
    await joinAndChat(run.port, 'posted before postgres dies', 30_000);
    const pid = run.pidOf('postgres');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    await expect.poll(() => run.pidOf('postgres'), { timeout: 60_000, interval: 100 }).not.toBe(pid);
    const newPid = run.pidOf('postgres');
    expect(isAlive(newPid)).toBe(true);
    expect(
      run
        .ownEntries()
        .filter((e) => e.process === 'postgres')
        .map((e) => e.msg),
    ).toContain(`restarted (pid ${newPid}): same port, data kept`);

    const snapshot = await joinAndChat(run.port, 'after postgres came back', 60_000);
    expect(snapshot.chat.messages.map((m) => m.text)).toContain('posted before postgres dies');
    console.log(`postgres killed → chat round trip again after ${Date.now() - killedAt} ms`);
  });

  it('on Ctrl-C stops the gateway, then the services, then NATS and Postgres, and leaves nothing running', async () => {
    const stack = run.stack();
    const gone = new Map<string, number>();
    const watch = setInterval(() => {
      for (const p of stack.processes) if (!gone.has(p.name) && !isAlive(p.pid)) gone.set(p.name, Date.now());
    }, 10);
    const signalledAt = Date.now();
    try {
      // A terminal's Ctrl-C: SIGINT to the whole foreground process group.
      process.kill(-run.child.pid!, 'SIGINT');
      const exit = await Promise.race([
        run.exit,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`npm start still runs 40 s after SIGINT:\n${run.output()}`)), 40_000),
        ),
      ]);
      expect(exit).toEqual({ code: 0, signal: null });
      await expect.poll(() => gone.size, { timeout: 2_000, interval: 10 }).toBe(stack.processes.length);
    } finally {
      clearInterval(watch);
    }
    console.log(`Ctrl-C → everything stopped in ${Math.max(...gone.values()) - signalledAt} ms`);

    // Order from npm start's log: each "shut down" line is written once that process has exited.
    const order = run
      .ownEntries()
      .filter((e) => e.msg?.startsWith('shut down'))
      .map((e) => e.process);
    expect(order).toHaveLength(7);
    expect(order[0]).toBe('gateway');
    expect(new Set(order.slice(1, 5))).toEqual(new Set(['chat', 'documents', 'presence', 'checklist']));
    expect(new Set(order.slice(5))).toEqual(new Set(['nats', 'postgres']));
    // And from the outside: when each pid was seen gone.
    const at = (name: string) => gone.get(name)!;
    for (const service of ['chat', 'documents', 'presence', 'checklist']) {
      expect(at('gateway')).toBeLessThanOrEqual(at(service));
      expect(at(service)).toBeLessThanOrEqual(at('nats'));
      expect(at(service)).toBeLessThanOrEqual(at('postgres'));
    }
    expect(processesUsing(run.dataDir)).toEqual([]);
    expect(existsSync(run.stackFile)).toBe(false);
  });

  it('on SIGTERM to the npm process alone (npm → sh → node) stops everything too, and the data survived', async () => {
    run = await NpmStartRun.launch({ dataDir: run.dataDir, viaNpm: true });
    await run.waitUntilReady();
    const snapshot = await joinAndChat(run.port, 'after a full restart', 30_000);
    expect(snapshot.chat.messages.map((m) => m.text)).toEqual(
      expect.arrayContaining(['posted before postgres dies', 'after postgres came back']),
    );

    const stack = run.stack();
    expect(stack.supervisorPid).not.toBe(run.child.pid);
    const pids = [stack.supervisorPid, ...stack.processes.map((p) => p.pid)];
    run.child.kill('SIGTERM');
    await run.exit;
    await expect.poll(() => pids.filter(isAlive), { timeout: 40_000, interval: 100 }).toEqual([]);
    expect(processesUsing(run.dataDir)).toEqual([]);
    const order = run
      .ownEntries()
      .filter((e) => e.msg?.startsWith('shut down'))
      .map((e) => e.process);
    expect(order[0]).toBe('gateway');
    expect(new Set(order.slice(5))).toEqual(new Set(['nats', 'postgres']));
  });
});

describe('npm start with a NATS_URL or DATABASE_URL that does not answer', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    dir = await mkdtemp(path.join(tmpdir(), 'sf-start-unreachable-'));
  });
  afterAll(async () => {
    await (db as TestDatabase | undefined)?.drop(); // undefined when the start failed
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function startFailing(env: Record<string, string>): Promise<{ exit: ProcessExit; tookMs: number; run: NpmStartRun }> {
    const run = await NpmStartRun.launch({ dataDir: path.join(dir, 'data'), env: { START_CONNECT_TIMEOUT_MS: '3000', ...env } });
    const started = Date.now();
    try {
      const exit = await Promise.race([
        run.exit,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`npm start still runs after 20 s:\n${run.output()}`)), 20_000)),
      ]);
      return { exit, tookMs: Date.now() - started, run };
    } catch (err) {
      await run.destroy();
      throw err;
    }
  }

  it('an unreachable NATS_URL: a warning at once, then exit 1 naming it after START_CONNECT_TIMEOUT_MS', async () => {
    const port = await freePort();
    const { exit, tookMs, run } = await startFailing({ NATS_URL: `nats://127.0.0.1:${port}`, DATABASE_URL: db.url });
    expect(exit.code).toBe(1);
    expect(run.stderr.join('\n')).toContain(`npm start failed: NATS_URL nats://127.0.0.1:${port} did not answer within 3 s`);
    expect(run.ownEntries().some((e) => e.level === 40 && e.msg?.startsWith(`NATS_URL nats://127.0.0.1:${port} does not answer yet`))).toBe(
      true,
    );
    expect(tookMs).toBeLessThan(15_000);
    expect(existsSync(path.join(dir, 'data', 'stack.json'))).toBe(false);
  });

  it('an unreachable DATABASE_URL: the same, with the password left out', async () => {
    const port = await freePort();
    const { exit, run } = await startFailing({
      NATS_URL: testNatsUrl(),
      DATABASE_URL: `postgres://siteflow:secret-pw@127.0.0.1:${port}/siteflow`,
    });
    expect(exit.code).toBe(1);
    const stderr = run.stderr.join('\n');
    expect(stderr).toContain(`npm start failed: DATABASE_URL postgres://siteflow:***@127.0.0.1:${port}/siteflow did not answer within 3 s`);
    expect(`${stderr}\n${run.lines.join('\n')}`).not.toContain('secret-pw');
  });

  it('a NATS without JetStream: exit 1 at once, saying so', async () => {
    // The devstack always enables JetStream; a plain server is the same binary without -js.
    const executable = findExecutable('nats-server');
    expect(executable).toBeDefined();
    const port = await freePort();
    const plain = spawn(executable!, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    try {
      await expect.poll(() => canConnect(port), { timeout: 10_000 }).toBe(true);
      const { exit, tookMs, run } = await startFailing({
        NATS_URL: `nats://127.0.0.1:${port}`,
        DATABASE_URL: db.url,
        START_CONNECT_TIMEOUT_MS: '60000',
      });
      expect(exit.code).toBe(1);
      expect(run.stderr.join('\n')).toContain(
        `npm start failed: NATS_URL nats://127.0.0.1:${port}: the server has no JetStream (start it with -js)`,
      );
      expect(tookMs).toBeLessThan(15_000);
    } finally {
      plain.kill('SIGKILL');
    }
  });
});
