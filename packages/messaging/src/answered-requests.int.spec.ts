import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testNatsUrl } from '@siteflow/testing';
import type {} from '@siteflow/testing';
import { RequestOne } from '@nats-io/nats-core/internal';
import { connect, errors, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ANSWERED_REQUESTS_WRITTEN_FOR, settleAnsweredRequestsQuietly } from './answered-requests.js';
import { connectNats, natsOptionsFromUrl } from './connect.js';

/**
 * An answered request settles without the library's `cancel()` (and the RequestError it builds for
 * nothing), against a real nats-server; every other outcome of a request is the library's own.
 */
describe('settleAnsweredRequestsQuietly', () => {
  let nc: NatsConnection;
  let responder: NatsConnection;
  const subject = `test.${Date.now().toString(36)}.answered`;

  beforeAll(async () => {
    // connectNats puts it in place, as every process of the stack connects.
    nc = await connectNats(testNatsUrl(), 'answered-requests-test');
    responder = await connect(natsOptionsFromUrl(testNatsUrl()));
    responder.subscribe(`${subject}.echo`, { callback: (_err, msg) => void msg.respond(msg.data) });
    responder.subscribe(`${subject}.silent`, { callback: () => undefined });
    await responder.flush();
  });

  afterAll(async () => {
    await nc.close();
    await responder.close();
  });

  it('is in place on the nats-core release it was written for (on a new release it stands aside: read RequestOne.resolver again, then move the version)', () => {
    expect(ANSWERED_REQUESTS_WRITTEN_FOR).toMatch(/^\d+\.\d+\.\d+$/);
    expect(settleAnsweredRequestsQuietly()).toBe(true);
  });

  it('answers requests with their reply and never cancels one that was answered', async () => {
    const cancel = vi.spyOn(RequestOne.prototype, 'cancel');
    try {
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => nc.request(`${subject}.echo`, `n${i}`, { timeout: 5_000 })));
      expect(replies.map((m) => m.string())).toEqual(Array.from({ length: 200 }, (_, i) => `n${i}`));
      expect(cancel).not.toHaveBeenCalled();
    } finally {
      cancel.mockRestore();
    }
    // Nothing is left in the reply mux: a late duplicate answer to a settled request finds no one.
    const mux = (nc as unknown as { protocol: { muxSubscriptions: { size(): number } } }).protocol.muxSubscriptions;
    expect(mux.size()).toBe(0);
  });

  it('leaves failures to the library: no responders, a timeout, a closed connection', async () => {
    await expect(nc.request(`${subject}.nobody`, 'x', { timeout: 5_000 })).rejects.toSatisfy(
      (err: unknown) => err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders()),
    );
    await expect(nc.request(`${subject}.silent`, 'x', { timeout: 200 })).rejects.toBeInstanceOf(errors.TimeoutError);

    const closing = await connectNats(testNatsUrl(), 'answered-requests-closing');
    const pending = closing.request(`${subject}.silent`, 'x', { timeout: 30_000 });
    const outcome = pending.then(
      () => 'answered',
      (err: unknown) => err,
    );
    await closing.close();
    expect(await outcome).toBeInstanceOf(Error);
  });

  it('JetStream publishes (requests to the server) are acknowledged as before', async () => {
    const jsm = await jetstreamManager(nc);
    const stream = `ANSWERED_${Date.now().toString(36)}`.toUpperCase();
    await jsm.streams.add({ name: stream, subjects: [`${subject}.js.>`] });
    try {
      const js = jetstream(nc);
      const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => js.publish(`${subject}.js.${i}`, `m${i}`)));
      expect(acks.map((a) => a.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect((await jsm.streams.info(stream)).state.messages).toBe(20);
    } finally {
      await jsm.streams.delete(stream);
    }
  });
});
