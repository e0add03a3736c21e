import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { markTracingEnabled } from './spans.js';

/** The OTLP protocols an exporter is chosen for (`OTEL_EXPORTER_OTLP_PROTOCOL`). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Where spans go, when they go anywhere. */
export interface OtlpSettings {
  endpoint: string;
  protocol: OtlpProtocol;
  /** Where spans are sent: `<endpoint>/v1/traces` over HTTP (a signal-specific endpoint as it is), the endpoint for gRPC. */
  url: string;
}

/** A setting that makes no sense (an unknown protocol): the process refuses to start, as with any bad configuration. */
export class TracingConfigError extends Error {
  override name = 'TracingConfigError';
}

/**
 * Whether and how to export spans, from the standard OpenTelemetry variables: on when
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set, unless
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER` names no `otlp`. The protocol is
 * `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`, `http/protobuf` by
 * default (the specification's default). Null: tracing is off.
 */
export function otlpSettingsFromEnv(env: NodeJS.ProcessEnv): OtlpSettings | null {
  const value = (name: string) => env[name]?.trim() ?? '';
  if (value('OTEL_SDK_DISABLED').toLowerCase() === 'true') return null;
  const exporters = value('OTEL_TRACES_EXPORTER');
  if (exporters !== '' && !exporters.split(',').some((e) => e.trim() === 'otlp')) return null;
  const tracesEndpoint = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const endpoint = tracesEndpoint || value('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint === '') return null;
  const protocol = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') || value('OTEL_EXPORTER_OTLP_PROTOCOL') || 'http/protobuf';
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new TracingConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL must be one of ${OTLP_PROTOCOLS.join(', ')} (got ${JSON.stringify(protocol)})`,
    );
  }
  const url = tracesEndpoint !== '' || protocol === 'grpc' ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  return { endpoint, protocol: protocol as OtlpProtocol, url };
}

/** Where the SDK's own complaints go (an export that failed): a process's logger. */
export interface TracingLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Exports what is still buffered and stops (at process stop). */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: () => Promise.resolve() };

/**
 * Starts tracing for this process when the OTLP variables ask for it (see otlpSettingsFromEnv):
 * a tracer provider with a batch processor and the exporter of the protocol, the W3C trace-context
 * propagator and an AsyncLocalStorage context manager, registered globally. Otherwise nothing is
 * loaded or registered: the OpenTelemetry API stays a no-op, and the code that makes spans checks
 * `tracingEnabled()` first, so tracing off costs a boolean test per hop.
 *
 * The exporter reads the rest of the standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`,
 * `…_TIMEOUT`, `…_COMPRESSION`), as do the sampler (`OTEL_TRACES_SAMPLER`, `…_ARG`) and the batch
 * processor (`OTEL_BSP_*`).
 */
export async function startTracing(opts: {
  service: string;
  instance: string;
  env?: NodeJS.ProcessEnv;
  logger?: TracingLogger;
}): Promise<Tracing> {
  const settings = otlpSettingsFromEnv(opts.env ?? process.env);
  if (!settings) return OFF;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { defaultResource, detectResources, envDetector, resourceFromAttributes }] =
    await Promise.all([import('@opentelemetry/sdk-trace-node'), import('@opentelemetry/resources')]);
  const exporter = await exporterFor(settings);
  if (opts.logger) diag.setLogger(rateLimited(opts.logger), DiagLogLevel.WARN);
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': opts.service, 'service.namespace': 'siteflow', 'service.instance.id': opts.instance }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  markTracingEnabled();
  opts.logger?.info({ endpoint: settings.endpoint, protocol: settings.protocol }, 'tracing: spans exported over OTLP');
  return {
    enabled: true,
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/** The exporter of the protocol, sending to the URL read from `env` (headers, timeout and compression it reads itself). */
async function exporterFor({ protocol, url }: OtlpSettings) {
  switch (protocol) {
    case 'http/protobuf':
      return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter({ url });
    case 'http/json':
      return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url });
    case 'grpc':
      return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter({ url });
  }
}

/** The SDK's warnings and errors (a collector that does not answer), at most one a minute. */
function rateLimited(logger: TracingLogger): DiagLogger {
  let lastAt = 0;
  let dropped = 0;
  const say = (message: string, args: unknown[]) => {
    const now = Date.now();
    if (now - lastAt < 60_000) {
      dropped++;
      return;
    }
    lastAt = now;
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : '')).filter(Boolean);
    logger.warn({ detail, suppressedSinceLast: dropped }, `tracing: ${message}`);
    dropped = 0;
  };
  const ignore = () => undefined;
  return { error: (m, ...a) => say(m, a), warn: (m, ...a) => say(m, a), info: ignore, debug: ignore, verbose: ignore };
}
