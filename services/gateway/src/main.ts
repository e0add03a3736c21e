import { connectNats } from '@siteflow/messaging';
import { createProcessLogger, startTracing } from '@siteflow/telemetry';
import { buildApp } from './app.js';
import { createTokenService } from './auth/tokens.js';
import { loadGatewayConfig } from './config.js';

const config = loadGatewayConfig();
// JSON lines, or readable ones on a terminal or with LOG_FORMAT=pretty (json or pretty; anything else exits 78).
const logger = await createProcessLogger({
  service: 'gateway',
  instance: config.INSTANCE_ID,
  level: config.LOG_LEVEL,
  format: process.env.LOG_FORMAT,
}).catch((err: unknown) => {
  process.stderr.write(`invalid configuration: ${err instanceof Error ? err.message : String(err)}\n`);
  return process.exit(78);
});
// Spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is loaded.
const tracing = await startTracing({ service: 'gateway', instance: config.INSTANCE_ID, logger }).catch((err: unknown) => {
  process.stderr.write(`invalid configuration: ${err instanceof Error ? err.message : String(err)}\n`);
  return process.exit(78);
});
const tokens = await createTokenService({
  keys: config.jwtKeys,
  issuer: config.JWT_ISSUER,
  audience: config.JWT_AUDIENCE,
  ttlSeconds: config.JWT_TTL_S,
}).catch((err: unknown) => {
  // The configuration already checked the keys; this is WebCrypto refusing one all the same.
  process.stderr.write(`invalid configuration: ${err instanceof Error ? err.message : String(err)}\n`);
  return process.exit(78);
});
const nats = await connectNats(config.NATS_URL, `gateway:${config.INSTANCE_ID}`);
const gateway = await buildApp({ config, logger, nats, tokens });
await gateway.http.listen({ port: config.PORT, host: config.HOST });
logger.info({ port: config.PORT, devLogin: config.DEV_LOGIN, jwtAlg: config.JWT_ALG }, 'gateway listening');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping');
    // close() has published every socket's connection.closed notice and flushed them: only then
    // may NATS go, or the services never hear of the closed sockets and their locks stay held.
    gateway
      .close()
      .then(() => nats.drain())
      .then(() => tracing.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'unclean stop');
          process.exit(1);
        },
      );
  });
}
