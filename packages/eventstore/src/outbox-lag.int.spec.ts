import { describe, expect, it } from 'vitest';
import { createEventStore, readOutboxLag, startOutboxRelay } from './index.js';
import { newEvents, silentLogger, useTestEnv } from './test-fixtures/harness.js';

const env = useTestEnv();

/**
 * What a service's `siteflow_outbox_lag_seconds` and `siteflow_outbox_unpublished_events` read on
 * each scrape (servicekit's ServiceMetrics): committed events past the relay's checkpoint, and how
 * long the oldest of them has waited. tests/metrics.int.spec.ts sees them at 0 on a running stack;
 * here they are seen moving, with no relay and then with one.
 */
describe('readOutboxLag', () => {
  it('counts committed events not yet published and ages the oldest; 0 and 0 once a relay has published them', async () => {
    const store = createEventStore({ pool: env().newPool(5), schema: 'outbox_lag' });
    await store.migrate();
    const { stream, subjectFor } = env().newStream('lag');
    expect(await readOutboxLag(store, stream.name)).toEqual({ events: 0, oldestAgeSeconds: 0 });

    await store.transaction((tx) => tx.append('thing-1', newEvents(3), { expectedVersion: 'any' }));
    await store.transaction((tx) => tx.append('thing-2', newEvents(2), { expectedVersion: 'any' }));
    const waiting = await readOutboxLag(store, stream.name);
    expect(waiting.events).toBe(5);
    expect(waiting.oldestAgeSeconds).toBeGreaterThan(0);
    // Nobody publishes: the oldest event keeps ageing.
    await expect
      .poll(async () => (await readOutboxLag(store, stream.name)).oldestAgeSeconds)
      .toBeGreaterThan(waiting.oldestAgeSeconds + 0.05);

    const relay = await startOutboxRelay({ store, nats: await env().natsConnection(), logger: silentLogger, stream, subjectFor });
    try {
      await expect.poll(() => readOutboxLag(store, stream.name), { timeout: 15_000 }).toEqual({ events: 0, oldestAgeSeconds: 0 });
    } finally {
      await relay.stop();
    }
  });
});
