import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { NatsContext } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import {
  contextFromHeaders,
  failed,
  setOutcome,
  SpanKind,
  startSpan,
  tracingEnabled,
  withSpan,
  type HeaderCarrier,
} from '@siteflow/telemetry';

/**
 * Every request a service handles, as a span (`handle <subject>`) continuing the trace whose W3C
 * context came in the NATS message's headers (the gateway's request span), or starting one. The
 * handler runs with it active, so the event store's append and commit spans, and the trace context
 * stored with each event, are its children. A no-op when tracing is off.
 */
@Injectable()
export class TracingInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (!tracingEnabled() || ctx.getType() !== 'rpc') return next.handle();
    const rpc = ctx.switchToRpc();
    const nats = rpc.getContext<unknown>();
    if (!(nats instanceof NatsContext)) return next.handle();
    const subject = nats.getSubject();
    const asked = rpc.getData<unknown>();
    const callerCtx = typeof asked === 'object' && asked !== null ? (asked as { ctx?: Record<string, unknown> }).ctx : undefined;
    const span = startSpan(`handle ${subject}`, {
      kind: SpanKind.SERVER,
      parent: contextFromHeaders(nats.getHeaders() as HeaderCarrier | undefined),
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.destination.name': subject,
        ...idAttribute('siteflow.user_id', callerCtx?.user_id),
        ...idAttribute('siteflow.project_id', callerCtx?.project_id),
        ...idAttribute('siteflow.connection_id', callerCtx?.connection_id),
      },
    });
    if (!span) return next.handle();
    return new Observable((subscriber) =>
      withSpan(span, () =>
        next.handle().subscribe({
          next: (reply) => {
            setOutcome(span, outcomeOf(reply));
            subscriber.next(reply);
          },
          error: (err: unknown) => {
            failed(span, err);
            span.end();
            subscriber.error(err);
          },
          complete: () => {
            span.end();
            subscriber.complete();
          },
        }),
      ),
    );
  }
}

/** `ok`, or the error code of a reply envelope; `unknown` for anything else. */
function outcomeOf(reply: unknown): string {
  if (typeof reply !== 'object' || reply === null || !('ok' in reply)) return 'unknown';
  if (reply.ok === true) return 'ok';
  const error = (reply as { error?: { code?: unknown } }).error;
  return typeof error?.code === 'string' ? error.code : 'unknown';
}

/** An id from the command context (numbers, or a connection's opaque id), never anything else the client sent. */
function idAttribute(key: string, value: unknown): Record<string, string | number> {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { [key]: value };
  if (typeof value === 'string' && /^[\w-]{1,64}$/.test(value)) return { [key]: value };
  return {};
}
