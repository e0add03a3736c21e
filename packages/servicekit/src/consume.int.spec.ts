import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { streamFor } from '@siteflow/contracts';
import pg from 'pg';
import { createEventStore, ensureStream, type EventStore } from '@siteflow/eventstore';
import { createTestDatabase, type TestDatabase, testNatsUrl } from '@siteflow/testing';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import { consumeEvents } from './consume.js';
import { DeadLetterCounter, type ServiceKit } from './kit.js';

const Event = z.object({ n: z.number().int() });

/** Cross-service consumers against a real NATS: they wait for the producer's stream and lose nothing. */
describe('consumeEvents', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const stream = streamFor('checklist');
  let db: TestDatabase;
  let pool: pg.Pool;
  let store: EventStore;
  const deadLetters = new DeadLetterCounter();
  const kit = () =>
    ({ nats: nc, logger: pino({ level: 'silent' }), store, pool, deadLetters, durableConsumers: new Map() }) as unknown as ServiceKit;
  /** A consumer of the checklist stream recording what it handled, in order. */
  const consumeInto = (
    durable: string,
    handle: (n: number) => Promise<void> = async () => {},
    more: Pick<Parameters<typeof consumeEvents>[1], 'types' | 'ackWaitMs'> = {},
  ) => {
    const handled: number[] = [];
    const consumer = consumeEvents(kit(), {
      from: 'checklist',
      durable,
      filterSubject: 'project.*.ev.checklist.>',
      schema: Event,
      retryDelayMs: 50,
      ...more,
      handle: async (e) => {
        await handle(e.n);
        handled.push(e.n);
      },
    });
    return { handled, consumer };
  };
  const lettersOf = async (source: string) =>
    (
      await pool.query<{ subject: string; reason: string; payload: string }>(
        'SELECT subject, reason, payload FROM consume_spec.dead_letters WHERE source = $1 ORDER BY id',
        [source],
      )
    ).rows;

  beforeAll(async () => {
    nc = await connect({ ...natsOptionsFromUrl(testNatsUrl()), name: 'consume-spec' });
    jsm = await jetstreamManager(nc);
    db = await createTestDatabase(inject('databaseUrl'));
    pool = new pg.Pool({ connectionString: db.url, max: 3 });
    store = createEventStore({ pool, schema: 'consume_spec' });
    await store.migrate();
  });
  afterAll(async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await nc.close();
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  it('waits for a stream its producer has not created yet (never creates it) and then handles every event once', async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    const { handled, consumer } = consumeInto('consume-spec');
    try {
      await new Promise((r) => setTimeout(r, 2_500)); // a few of its retries
      await expect(jsm.streams.info(stream.name)).rejects.toThrow(/not found/i);

      // The producer creates its stream and publishes at once, before the consumer exists.
      await ensureStream(jsm, stream);
      const js = jetstream(nc);
      for (let n = 1; n <= 5; n++) await js.publish(`project.1.ev.checklist.Tick`, JSON.stringify({ n }));
      await js.publish('project.1.ev.checklist.Tick', 'not json'); // malformed: a dead letter at once, not retried
      for (let n = 6; n <= 10; n++) await js.publish(`project.1.ev.checklist.Tick`, JSON.stringify({ n }));

      await expect.poll(() => handled, { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await new Promise((r) => setTimeout(r, 500));
      expect(handled).toHaveLength(10);
      expect(await lettersOf('consume-spec')).toEqual([
        { subject: 'project.1.ev.checklist.Tick', reason: expect.stringContaining('malformed') as string, payload: 'not json' },
      ]);
    } finally {
      await consumer.stop();
    }
  });

  it('gives up on a poison event after a few failures (dead letter, counted, logged) and handles the ones behind it; the database away is never poison', async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await ensureStream(jsm, stream);
    let outageLeft = 12; // more failures than the poison bound: an outage is waited out, however long
    const attempts = new Map<number, number>();
    const { handled, consumer } = consumeInto('consume-spec-poison', (n) => {
      attempts.set(n, (attempts.get(n) ?? 0) + 1);
      if (n === 2) return Promise.reject(new Error('a bug this event always hits'));
      if (n === 3 && outageLeft-- > 0)
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
      return Promise.resolve();
    });
    try {
      const js = jetstream(nc);
      for (let n = 1; n <= 4; n++) await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n }));
      await expect.poll(() => [...handled].sort(), { timeout: 30_000 }).toEqual([1, 3, 4]);
      expect(attempts.get(2)).toBe(5);
      expect(attempts.get(3)).toBe(13);
      expect(await lettersOf('consume-spec-poison')).toEqual([
        {
          subject: 'project.1.ev.checklist.Tick',
          reason: expect.stringContaining('a bug this event always hits') as string,
          payload: '{"n":2}',
        },
      ]);
      expect(deadLetters.bySource.get('consume-spec-poison')).toBe(1);
      // Terminated, not redelivered.
      await new Promise((r) => setTimeout(r, 500));
      expect(attempts.get(2)).toBe(5);
    } finally {
      await consumer.stop();
    }
  });

  it('terminates a poison event: it is not delivered again once the ack wait has passed (NATS 2.9 ignores a TERM with a reason)', async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await ensureStream(jsm, stream);
    const { handled, consumer } = consumeInto('consume-spec-term', undefined, { ackWaitMs: 1_000 });
    try {
      const js = jetstream(nc);
      await js.publish('project.1.ev.checklist.Tick', 'not json');
      await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n: 1 }));
      await expect.poll(() => handled, { timeout: 10_000 }).toEqual([1]);
      // Terminated and acknowledged: nothing waits for an acknowledgement...
      await expect
        .poll(async () => (await jsm.consumers.info(stream.name, 'consume-spec-term')).num_ack_pending, { timeout: 10_000 })
        .toBe(0);
      // ...so nothing comes back after the ack wait, to be given up on a second time.
      await new Promise((r) => setTimeout(r, 2_500));
      const info = await jsm.consumers.info(stream.name, 'consume-spec-term');
      expect(info.num_redelivered).toBe(0);
      expect((await lettersOf('consume-spec-term')).map((l) => l.payload)).toEqual(['not json']);
      expect(deadLetters.bySource.get('consume-spec-term')).toBe(1);
    } finally {
      await consumer.stop();
    }
  });

  it('with `types`, acknowledges the events of other types unread: however large or malformed, none reaches the handler or the dead letters', async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await ensureStream(jsm, stream);
    const { handled, consumer } = consumeInto('consume-spec-types', undefined, { types: ['Tick', 'Tock'] });
    try {
      const js = jetstream(nc);
      await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n: 1 }));
      await js.publish('project.1.ev.checklist.Saved', 'not json, and not for this consumer');
      await js.publish('project.1.ev.checklist.Saved', JSON.stringify({ n: 99, content: 'x'.repeat(256 * 1024) }));
      await js.publish('project.2.ev.checklist.Tock', JSON.stringify({ n: 2 }));
      await js.publish('project.1.ev.checklist.Tick', 'not json'); // its own type, malformed: still a dead letter
      await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n: 3 }));
      await expect.poll(() => handled, { timeout: 10_000 }).toEqual([1, 2, 3]);
      expect(await lettersOf('consume-spec-types')).toEqual([
        { subject: 'project.1.ev.checklist.Tick', reason: expect.stringContaining('malformed') as string, payload: 'not json' },
      ]);
      // Every event acknowledged: nothing left to redeliver.
      await expect
        .poll(async () => (await jsm.consumers.info(stream.name, 'consume-spec-types')).num_ack_pending, { timeout: 10_000 })
        .toBe(0);
      expect((await jsm.consumers.info(stream.name, 'consume-spec-types')).num_pending).toBe(0);
    } finally {
      await consumer.stop();
    }
  });

  it('bounds the stream (bytes and age, oldest dropped when full) and updates the bounds of an existing one', async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await ensureStream(jsm, stream);
    expect((await jsm.streams.info(stream.name)).config).toMatchObject({ max_bytes: -1, max_age: 0, discard: 'old' });
    await ensureStream(jsm, stream, { maxBytes: 4096, maxAgeMs: 3_600_000 });
    expect((await jsm.streams.info(stream.name)).config).toMatchObject({ max_bytes: 4096, max_age: 3_600_000_000_000, discard: 'old' });
    const js = jetstream(nc);
    // Full: publishing goes on, the oldest go.
    for (let n = 1; n <= 100; n++) await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n, pad: 'x'.repeat(100) }));
    const { state } = await jsm.streams.info(stream.name);
    expect(state.bytes).toBeLessThanOrEqual(4096);
    expect(state.last_seq).toBe(100);
    expect(state.first_seq).toBeGreaterThan(1);
  });

  it('keeps a durable consumer an earlier version made with other settings, and its position', async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await ensureStream(jsm, stream);
    await jsm.consumers.add(stream.name, {
      durable_name: 'consume-spec-old',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: 'project.*.ev.checklist.>',
    });
    const js = jetstream(nc);
    await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n: 1 }));
    const { handled, consumer } = consumeInto('consume-spec-old');
    try {
      await expect.poll(() => handled, { timeout: 10_000 }).toEqual([1]);
      await js.publish('project.1.ev.checklist.Tick', JSON.stringify({ n: 2 }));
      await expect.poll(() => handled, { timeout: 10_000 }).toEqual([1, 2]);
      expect((await jsm.consumers.info(stream.name, 'consume-spec-old')).config.deliver_policy).toBe(DeliverPolicy.New);
    } finally {
      await consumer.stop();
    }
  });
});
