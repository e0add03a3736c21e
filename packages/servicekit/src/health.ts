import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { jetstreamManager } from '@nats-io/jetstream';
import type { QueryConfig } from 'pg';
import { streamFor, subjects, type HealthReply, type ReplyEnvelope, type ServiceName } from '@siteflow/contracts';
import { databaseUnavailableReason } from '@siteflow/eventstore';
import { SERVICE_KIT, type ServiceKit } from './kit.js';

/**
 * How long each check may take: the gateway asks with a 1.5 s timeout, and a stopped dependency
 * must show as failing in the reply, not as a missing reply.
 */
const CHECK_TIMEOUT_MS = 1_000;

/**
 * A controller answering `<service>.health` (the probe that needs no HTTP): ready when Postgres
 * answers, the service's NATS connection is up and its JetStream stream answers. Not ready is an
 * `unavailable` error whose details are the health reply, naming what failed and why; a checker
 * that looks only at `ok` is not misled.
 */
export function healthController(name: ServiceName): Type<unknown> {
  @Controller()
  class HealthController {
    constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

    @MessagePattern(subjects.health(name))
    async health(): Promise<ReplyEnvelope<HealthReply>> {
      const [postgres, nats, stream] = await Promise.all([
        check(async () => {
          // pg honours a per-query query_timeout (its types omit it): a stopped server frees the connection soon.
          await this.kit.pool.query({ text: 'SELECT 1', query_timeout: CHECK_TIMEOUT_MS } as QueryConfig);
        }),
        check(() => {
          if (this.kit.nats.isClosed()) throw new Error('the connection is closed');
          if (this.kit.nats.isDraining()) throw new Error('the connection is draining (stopping)');
        }),
        check(async () => {
          await (await jetstreamManager(this.kit.nats, { timeout: CHECK_TIMEOUT_MS })).streams.info(streamFor(name).name);
        }),
      ]);
      const results = { postgres, nats, stream };
      const failing = Object.entries(results).filter(([, r]) => r !== null);
      const reply: HealthReply = {
        service: name,
        instance: this.kit.config.INSTANCE_ID,
        status: failing.length === 0 ? 'ok' : 'not_ready',
        checks: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r === null ? 'ok' : 'failing'])),
        ...(failing.length > 0 ? { reasons: Object.fromEntries(failing as Array<[string, string]>) } : {}),
        uptime_s: Math.round((Date.now() - this.kit.startedAt) / 1000),
      };
      if (failing.length === 0) return { ok: true, data: reply };
      return {
        ok: false,
        error: {
          code: 'unavailable',
          message: `${name} is not ready: ${failing.map(([k, r]) => `${k}: ${r}`).join('; ')}`,
          details: reply,
        },
      };
    }
  }
  return HealthController;
}

/** Null when `probe` succeeds within the bound, otherwise why not. */
/** A probe that throws at once fails the same way as one whose promise rejects. */
async function check(probe: () => Promise<void> | void): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return null;
  } catch (err) {
    return databaseUnavailableReason(err) ?? (err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(timer);
  }
}
