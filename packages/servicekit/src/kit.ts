import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ServiceName } from '@siteflow/contracts';
import type { EventStore } from '@siteflow/eventstore';
import type { BaseServiceConfig } from './config.js';

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
}

@Global()
@Module({})
export class ServiceKitModule {
  static register(kit: ServiceKit<any>): DynamicModule {
    return { module: ServiceKitModule, providers: [{ provide: SERVICE_KIT, useValue: kit }], exports: [SERVICE_KIT] };
  }
}
