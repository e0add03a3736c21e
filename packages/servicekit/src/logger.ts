import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';
import { createProcessLogger } from '@siteflow/telemetry';

/** A service's logger: JSON lines, or readable ones on a terminal or with LOG_FORMAT=pretty. */
export function createLogger(service: string, level: string, instance: string, format?: string): Promise<Logger> {
  return createProcessLogger({ service, instance, level, format });
}

/**
 * Nest's contexts that only narrate the boot (modules loaded, routes and handlers mapped, "started"):
 * an operator needs none of it at info, so it goes to debug.
 */
const BOOTSTRAP_CONTEXTS: ReadonlySet<string> = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestMicroservice',
]);

/** Routes Nest's own log lines into pino, so a process writes one JSON log stream. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    if (context !== undefined && BOOTSTRAP_CONTEXTS.has(context)) this.logger.debug({ context }, String(message));
    else this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}
