import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';

export { SpanKind, type Attributes, type Context, type Span };

let enabled = false;

/** Set by startTracing once a provider is registered. */
export function markTracingEnabled(): void {
  enabled = true;
}

/** Whether this process exports spans. Everything below is a no-op when it does not. */
export function tracingEnabled(): boolean {
  return enabled;
}

const tracer = () => trace.getTracer('siteflow');

export interface SpanSpec {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent (a context taken from a message); default: the active context. */
  parent?: Context;
}

/**
 * Runs `work` as the span `name` (active inside it, so what it calls and sends continues the
 * trace), ending it when the promise settles. An exception marks the span as failed with the
 * error's class only: an error message may carry data that does not belong in a trace. When
 * tracing is off, `work` runs as it is and gets no span.
 */
export async function inSpan<T>(name: string, spec: SpanSpec, work: (span: Span | null) => Promise<T>): Promise<T> {
  if (!enabled) return work(null);
  const parent = spec.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: spec.kind ?? SpanKind.INTERNAL, attributes: spec.attributes ?? {} }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** The synchronous `inSpan` (a fan-out writes to its sockets without awaiting). */
export function inSpanSync<T>(name: string, spec: SpanSpec, work: (span: Span | null) => T): T {
  if (!enabled) return work(null);
  const parent = spec.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: spec.kind ?? SpanKind.INTERNAL, attributes: spec.attributes ?? {} }, parent);
  try {
    return context.with(trace.setSpan(parent, span), () => work(span));
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** A span the caller ends (a publish whose acknowledgement comes later); null when tracing is off. */
export function startSpan(name: string, spec: SpanSpec): Span | null {
  if (!enabled) return null;
  return tracer().startSpan(
    name,
    { kind: spec.kind ?? SpanKind.INTERNAL, attributes: spec.attributes ?? {} },
    spec.parent ?? context.active(),
  );
}

/** Marks a span as failed by the error's class (`error.type`), never its message. */
export function failed(span: Span | null, err: unknown): void {
  if (!span) return;
  const type = err instanceof Error ? err.name : typeof err;
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/**
 * Records a command's outcome: `siteflow.outcome` (`ok` or the error code); `internal` and
 * `unavailable` also mark the span as failed (the others are the client's to fix).
 */
export function setOutcome(span: Span | null, outcome: string): void {
  if (!span) return;
  span.setAttribute('siteflow.outcome', outcome);
  if (outcome === 'internal' || outcome === 'unavailable') {
    span.setAttribute('error.type', outcome);
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
  }
}

/** The active span's trace id, for log lines (undefined when tracing is off or nothing is traced). */
export function currentTraceId(): string | undefined {
  if (!enabled) return undefined;
  const ctx = trace.getSpanContext(context.active());
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}

/** The span context of `span` as W3C `traceparent` (and `tracestate`) fields, e.g. for a stored event's metadata. */
export function traceFields(parent: Context = context.active()): Record<string, string> | undefined {
  if (!enabled) return undefined;
  const fields: Record<string, string> = {};
  propagation.inject(parent, fields, recordSetter);
  return fields.traceparent ? fields : undefined;
}

/** The context carried by W3C trace-context fields (stored metadata), or undefined when there are none. */
export function contextFromFields(fields: Record<string, unknown> | null | undefined): Context | undefined {
  if (!enabled || !fields || typeof fields.traceparent !== 'string') return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, fields, recordGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/** Carrier access to anything with `get`/`set`/`keys` of strings (NATS message headers). */
export interface HeaderCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
  keys(): string[];
}

export const headerSetter: TextMapSetter<HeaderCarrier> = { set: (h, k, v) => h.set(k, v) };
export const headerGetter: TextMapGetter<HeaderCarrier | undefined> = {
  keys: (h) => h?.keys() ?? [],
  get: (h, k) => h?.get(k) || undefined,
};

/** Writes the active (or given) context into message headers. */
export function injectHeaders(headers: HeaderCarrier, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, headerSetter);
}

/** The context in message headers, or undefined when they carry none. */
export function contextFromHeaders(headers: HeaderCarrier | undefined): Context | undefined {
  if (!enabled || !headers) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/** Runs `work` with `ctx` active (a span from elsewhere continued here). */
export function withContext<T>(ctx: Context | undefined, work: () => T): T {
  return ctx ? context.with(ctx, work) : work();
}

const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (r, k, v) => {
    r[k] = v;
  },
};
const recordGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (r) => Object.keys(r),
  get: (r, k) => {
    const v = r[k];
    return typeof v === 'string' ? v : undefined;
  },
};

/** Runs `work` with `span` active (a span started with startSpan). */
export function withSpan<T>(span: Span, work: () => T): T {
  return context.with(trace.setSpan(context.active(), span), work);
}

/** The trace id in W3C trace-context fields (a stored event's metadata), for log lines; tracing need not be on. */
export function traceIdFromFields(fields: Record<string, unknown> | null | undefined): string | undefined {
  const traceparent = fields?.traceparent;
  if (typeof traceparent !== 'string') return undefined;
  return /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent)?.[1];
}
