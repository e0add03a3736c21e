import { ServerNats } from '@nestjs/microservices';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { REQUEST_TIMEOUT_HEADER } from '@siteflow/messaging';
import { withRequestTimeout } from './handle.js';
import type { InflightRequests } from './inflight.js';

type NatsServerOptions = ConstructorParameters<typeof ServerNats>[0];

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
