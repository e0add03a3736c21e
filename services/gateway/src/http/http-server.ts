import { existsSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { TokenService } from '../auth/tokens.js';
import type { GatewayConfig } from '../config.js';
import type { GatewayMetrics } from '../metrics.js';
import { registerRoutes } from './routes.js';
import { registerWebApp } from './web-app.js';

export interface HttpServerDeps {
  config: GatewayConfig;
  logger: Logger;
  nats: NatsConnection;
  tokens: TokenService;
  metrics: GatewayMetrics;
}

/**
 * The gateway's HTTP side: health and readiness, dev login, the projects API, avatars, `/metrics`
 * and the web app. The Phoenix socket is attached to its server apart (`protocol/handshake.ts`).
 * Nothing here talks to NATS until a route asks, so routes can be tested with `inject()`.
 */
export async function buildHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const { config, logger, metrics } = deps;
  // Requests are not logged, and a request fastify logs for an error shows its path without the
  // query string (where a token may travel).
  const loggerInstance: FastifyBaseLogger = logger.child(
    { component: 'http' },
    { serializers: { req: (req: { method?: string; url?: string }) => ({ method: req.method, path: req.url?.split('?')[0] }) } },
  );
  const http = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
  });
  registerRoutes(http, deps);
  // Prometheus text format on the gateway's own port, registered before the web app so no client route shadows it.
  http.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  if (config.WEB_DIST && existsSync(config.WEB_DIST)) await registerWebApp(http, config.WEB_DIST);
  return http;
}
