import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ServiceName } from '@siteflow/contracts';
import type { EventStore } from '@siteflow/eventstore';
import type { BaseServiceConfig } from './config.js';
import type { ServiceMetrics } from './metrics.js';

/** Injection token of the service kit. */
export const SERVICE_KIT = Symbol('SERVICE_KIT');

/** What every handler of a service may use: its config, logger, event store and NATS connection. */
export interface ServiceKit<C extends BaseServiceConfig = BaseServiceConfig> {
  name: ServiceName;
  config: C;
  logger: Logger;
  pool: Pool;
  store: EventStore;
  /** The service's own NATS connection (Nest's transport has another one for requests). */
  nats: NatsConnection;
  startedAt: number;
  /** Publishes an ephemeral broadcast (never stored) on core NATS. */
  publishEphemeral(subject: string, message: unknown): void;
  /** Resolves when every event committed so far has been published (tests, shutdown). */
  flushOutbox(timeoutMs?: number): Promise<void>;
  /** Poison messages given up on since start, by source (a durable consumer's name). */
  deadLetters: DeadLetterCounter;
  /** The process's Prometheus metrics: a service adds its own families to `metrics.registry`. */
  metrics: ServiceMetrics;
  /** Durable consumers this instance runs (name → the service whose stream it reads), for metrics. */
  durableConsumers: Map<string, ServiceName>;
}

/** Counts dead letters per source, for health and metrics (`siteflow_dead_letters_total`). */
export class DeadLetterCounter {
  readonly bySource = new Map<string, number>();
  inc(source: string): void {
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.bySource.values()) n += v;
    return n;
  }
}

@Global()
@Module({})
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest dynamic module: the class is the module token, register() its factory
export class ServiceKitModule {
  static register(kit: ServiceKit): DynamicModule {
    return { module: ServiceKitModule, providers: [{ provide: SERVICE_KIT, useValue: kit }], exports: [SERVICE_KIT] };
  }
}
