import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { streamFor } from '@siteflow/contracts';
import { ensureStream } from '@siteflow/eventstore';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import { consumeEvents } from './consume.js';
import type { ServiceKit } from './kit.js';

const Event = z.object({ n: z.number().int() });

/** Cross-service consumers against a real NATS: they wait for the producer's stream and lose nothing. */
describe('consumeEvents', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const stream = streamFor('checklist');
  const kit = () => ({ nats: nc, logger: pino({ level: 'silent' }) }) as unknown as ServiceKit;
  /** A consumer of the checklist stream recording what it handled, in order. */
  const consumeInto = (durable: string) => {
    const handled: number[] = [];
    const consumer = consumeEvents(kit(), {
      from: 'checklist',
      durable,
      filterSubject: 'project.*.ev.checklist.>',
      schema: Event,
      handle: async (e) => {
        handled.push(e.n);
      },
    });
    return { handled, consumer };
  };

  beforeAll(async () => {
    nc = await connect({ ...natsOptionsFromUrl(inject('natsUrl')), name: 'consume-spec' });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await jsm.streams.delete(stream.name).catch(() => undefined);
    await nc.close();
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
      await js.publish('project.1.ev.checklist.Tick', 'not json'); // malformed: terminated, not retried
      for (let n = 6; n <= 10; n++) await js.publish(`project.1.ev.checklist.Tick`, JSON.stringify({ n }));

      await expect.poll(() => handled, { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await new Promise((r) => setTimeout(r, 500));
      expect(handled).toHaveLength(10);
    } finally {
      await consumer.stop();
    }
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
