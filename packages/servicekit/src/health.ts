import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { subjects, type HealthReply, type ReplyEnvelope, type ServiceName } from '@siteflow/contracts';
import { SERVICE_KIT, type ServiceKit } from './kit.js';

/** A controller answering `<service>.health`: Postgres reachable and NATS connected. */
export function healthController(name: ServiceName): Type<unknown> {
  @Controller()
  class HealthController {
    constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

    @MessagePattern(subjects.health(name))
    async health(): Promise<ReplyEnvelope<HealthReply>> {
      const checks: HealthReply['checks'] = { postgres: 'ok', nats: this.kit.nats.isClosed() ? 'failing' : 'ok' };
      try {
        await this.kit.pool.query('select 1');
      } catch {
        checks.postgres = 'failing';
      }
      const status = Object.values(checks).every((c) => c === 'ok') ? 'ok' : 'degraded';
      return {
        ok: true,
        data: {
          service: name,
          instance: this.kit.config.INSTANCE_ID,
          status,
          checks,
          uptime_s: Math.round((Date.now() - this.kit.startedAt) / 1000),
        },
      };
    }
  }
  return HealthController;
}
