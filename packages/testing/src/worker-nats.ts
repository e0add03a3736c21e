import { inject } from 'vitest';
import type {} from './provided-context.js';

/**
 * The NATS of the worker running this test file. The int tier runs files in parallel (one per
 * worker), and each worker has a nats-server of its own (global setup): a file's stack starts by
 * deleting every JetStream stream, which must not reach a file running beside it. Postgres is
 * shared: each file has a database of its own.
 */
export function testNatsUrl(): string {
  const urls = inject('natsUrls');
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  const url = urls[(Number.isInteger(worker) && worker > 0 ? worker - 1 : 0) % urls.length];
  if (!url) throw new Error('the global setup provided no NATS (packages/testing global-setup)');
  return url;
}
