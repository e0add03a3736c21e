import { ServerNats } from '@nestjs/microservices';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { REQUEST_TIMEOUT_HEADER } from '@siteflow/messaging';
import { withRequestTimeout } from './handle.js';
import type { InflightRequests } from './inflight.js';

type NatsServerOptions = ConstructorParameters<typeof ServerNats>[0];

/** Dot-separated tokens starting with a letter or `_`: never JSON, except the three words below. */
const PLAIN_SUBJECT = /^[A-Za-z_][\w-]*(?:\.[\w-]+)*$/;
const JSON_WORDS = new Set(['true', 'false', 'null']);

/**
 * Nest's NATS server with a real graceful stop: unsubscribe (no new requests reach this instance;
 * the queue group sends them to the others), wait for the requests in flight, flush their replies,
 * then close.
 */
export class DrainingServerNats extends ServerNats {
  constructor(
    options: NatsServerOptions,
    private readonly inflight: InflightRequests,
    private readonly drainTimeoutMs: number,
  ) {
    super({ ...options, gracefulShutdown: false });
  }

  /**
   * Nest finds a request's handler by `JSON.parse`-ing its pattern first, for object patterns. Ours
   * are NATS subjects (`chat.post`), on which that throws, and a SyntaxError's stack trace is made
   * for every request: 0.15-0.5 s of each service's CPU in a 10,000-join storm (profiled). A plain
   * subject is its own route (what Nest arrives at after the throw); anything else goes Nest's way.
   */
  protected override getRouteFromPattern(pattern: string): string {
    return PLAIN_SUBJECT.test(pattern) && !JSON_WORDS.has(pattern) ? pattern : super.getRouteFromPattern(pattern);
  }

  /**
   * Every request is handled within the deadline its caller sent (the `Siteflow-Timeout-Ms`
   * header), so a command still waiting for its turn when the caller gives up is dropped.
   */
  override handleMessage(channel: string, natsMsg: Msg): Promise<unknown> {
    const timeout = natsMsg.headers?.get(REQUEST_TIMEOUT_HEADER);
    return withRequestTimeout(timeout ? Number(timeout) : undefined, () => super.handleMessage(channel, natsMsg));
  }

  override async close(): Promise<void> {
    const self = this as unknown as { subscriptions: Subscription[]; natsClient: NatsConnection | null };
    for (const sub of self.subscriptions) sub.unsubscribe();
    self.subscriptions.length = 0;
    await this.inflight.idle(this.drainTimeoutMs);
    try {
      await self.natsClient?.flush();
    } catch {
      // the connection may already be gone; nothing left to flush then
    }
    await super.close();
  }
}
