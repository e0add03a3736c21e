import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { testNatsUrl } from './worker-nats.js';
import { freePort, startNatsServer, type LocalServer } from '@siteflow/devstack';
import { createTestDatabase, type TestDatabase } from './database.js';
import type {} from './provided-context.js';
import { startStack, type Stack, type StackOptions } from './stack.js';

export type UseStackOptions = Partial<StackOptions>;

/**
 * The usual lifecycle of a stack in a test file (or describe block): before all tests a database
 * of its own (unless `databaseUrl` is given) and the processes are started against the run's
 * NATS and Postgres (`inject`), after them both are stopped/dropped, and when a test fails the
 * last output of every process is printed. Returns a getter, as the stack exists only once
 * `beforeAll` ran:
 *
 *   const stack = useStack({ services: ['documents'] });
 *   it('…', async () => { const { token } = await stack().devLogin('alice'); … });
 */
export function useStack(options: UseStackOptions | (() => UseStackOptions | Promise<UseStackOptions>) = {}): () => Stack {
  let stack: Stack | undefined;
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    const opts = typeof options === 'function' ? await options() : options;
    let databaseUrl = opts.databaseUrl;
    if (!databaseUrl) {
      database = await createTestDatabase(inject('databaseUrl'));
      databaseUrl = database.url;
    }
    stack = await startStack({ ...opts, natsUrl: opts.natsUrl ?? testNatsUrl(), databaseUrl });
  });
  beforeEach((ctx) => {
    ctx.onTestFailed(() => stack?.dumpLogs());
  });
  afterAll(async () => {
    await stack?.stop();
    stack = undefined;
    await database?.drop();
    database = undefined;
  });
  return () => {
    if (!stack) throw new Error('the stack is not running (used outside the tests of the block that called useStack?)');
    return stack;
  };
}

/** What {@link useStackOnOwnNats} gives its tests. */
export interface StackOnOwnNats {
  stack: Stack;
  /**
   * Stops the block's nats-server and starts it again on the same port and JetStream store: an
   * outage the stack's NATS connections reconnect after (docs/consistency.md, rule 6).
   */
  restartNats: () => Promise<void>;
}

/**
 * {@link useStack} on a nats-server of the block's own instead of the run's shared one, for tests
 * that stop and restart NATS. Before all tests a temporary directory, the server in it on a free
 * port, then the stack on it; after them the stack stops first, then the server, and the directory
 * goes. Returns a getter, as {@link useStack} does:
 *
 *   const own = useStackOnOwnNats();
 *   it('…', async () => { const { stack, restartNats } = own(); … await restartNats(); … });
 */
export function useStackOnOwnNats(options: Omit<UseStackOptions, 'natsUrl'> = {}): () => StackOnOwnNats {
  let dir: string | undefined;
  let port = 0;
  let nats: LocalServer | undefined;
  const running = (): LocalServer => {
    if (!nats) throw new Error('its nats-server is not running (used outside the tests of the block that called useStackOnOwnNats?)');
    return nats;
  };
  const startNats = async () => {
    if (!dir) throw new Error('useStackOnOwnNats: no directory for its nats-server');
    nats = await startNatsServer({ dataDir: path.join(dir, 'nats'), port });
  };
  const restartNats = async () => {
    await running().stop();
    nats = undefined;
    await startNats();
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sf-own-nats-'));
    port = await freePort();
    await startNats();
  });
  // Registered before useStack's: vitest runs after-all hooks in reverse (sequence.hooks 'stack',
  // its default), so the stack stops while its NATS is still there.
  afterAll(async () => {
    await nats?.stop();
    nats = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const stack = useStack(() => ({ ...options, natsUrl: running().url }));
  return () => ({ stack: stack(), restartNats });
}
