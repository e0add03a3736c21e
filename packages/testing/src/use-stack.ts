import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
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
    stack = await startStack({ ...opts, natsUrl: opts.natsUrl ?? inject('natsUrl'), databaseUrl });
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
