import { randomUUID } from 'node:crypto';
import { headers as createHeaders, type Msg, type RequestOptions as NatsRequestOptions } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders, RequestError, TimeoutError, NoRespondersError, type MsgHdrs } from '@nats-io/transport-node';
import { AppError, NestReplyPacket, ReplyEnvelope, type ErrorBody } from '@siteflow/contracts';
import { currentTraceId, inSpan, injectHeaders, setOutcome, SpanKind, tracingEnabled } from '@siteflow/telemetry';

const encoder = new TextEncoder();

/** Where requestService reports a failure of the service itself (pino's `error` fits). */
export interface ServiceFailureLogger {
  error(obj: object, msg: string): void;
}

export interface RequestOptions {
  timeoutMs: number;
  /**
   * Told when the service failed rather than answered (Nest's `err` packet, a malformed reply): the
   * caller only sees `internal`, so this line is where an operator learns which command, whose,
   * from which connection and project, and in which trace.
   */
  logger?: ServiceFailureLogger;
}

/**
 * The one way to ask a service something over NATS. Speaks Nest's packet format (request
 * `{pattern, data, id}`, reply `{id, response | err, isDisposed}`), so the gateway, tests and tools
 * can call NestJS handlers without being Nest apps. Never throws: a timeout, no responders or a
 * malformed reply becomes an error envelope with code `unavailable` or `internal`.
 *
 * With tracing on, the request is a client span (`request <subject>`) and its W3C trace context
 * travels in the message's headers, where the service continues the trace.
 */
export async function requestService<T = unknown>(
  nc: NatsConnection,
  subject: string,
  data: unknown,
  opts: RequestOptions,
): Promise<ReplyEnvelope<T>> {
  if (!tracingEnabled()) return ask<T>(nc, subject, data, opts, undefined);
  return inSpan(
    `request ${subject}`,
    {
      kind: SpanKind.CLIENT,
      attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'send', 'messaging.destination.name': subject },
    },
    async (span) => {
      const h = natsHeaders();
      injectHeaders(h);
      const reply = await ask<T>(nc, subject, data, opts, h);
      setOutcome(span, reply.ok ? 'ok' : reply.error.code);
      return reply;
    },
  );
}

async function ask<T>(
  nc: NatsConnection,
  subject: string,
  data: unknown,
  opts: RequestOptions,
  headers: MsgHdrs | undefined,
): Promise<ReplyEnvelope<T>> {
  const id = randomUUID();
  let raw: Uint8Array;
  try {
    const msg = await requestWithTimeout(nc, subject, encoder.encode(JSON.stringify({ pattern: subject, data, id })), {
      timeout: opts.timeoutMs,
      ...(headers ? { headers } : {}),
    });
    raw = msg.data;
  } catch (e) {
    return { ok: false, error: natsFailure(subject, e) };
  }
  const internal = (message: string, detail: Record<string, unknown>): ReplyEnvelope<T> => {
    opts.logger?.error({ ...requestConcerns(subject, data), ...detail }, message);
    return { ok: false, error: { code: 'internal', message } };
  };
  let packet: NestReplyPacket;
  try {
    packet = NestReplyPacket.parse(JSON.parse(new TextDecoder().decode(raw)));
  } catch {
    return internal(`malformed reply on ${subject}`, { reply: excerpt(new TextDecoder().decode(raw)) });
  }
  if (packet.err !== undefined) {
    return internal(`service failed on ${subject}`, { serviceError: excerpt(packet.err) });
  }
  const envelope = ReplyEnvelope.safeParse(packet.response);
  if (!envelope.success) {
    return internal(`reply on ${subject} is not an envelope`, { reply: excerpt(packet.response) });
  }
  return envelope.data as ReplyEnvelope<T>;
}

/** What a request concerns, for its log line: the command, who asked, from where, in which project and trace. */
function requestConcerns(subject: string, data: unknown): Record<string, unknown> {
  // A client's command carries `ctx`; the projects API's carries `by` (the caller) and the project in its payload.
  const request =
    typeof data === 'object' && data !== null
      ? (data as { ctx?: Record<string, unknown>; by?: Record<string, unknown>; payload?: unknown })
      : undefined;
  const payload =
    typeof request?.payload === 'object' && request.payload !== null ? (request.payload as Record<string, unknown>) : undefined;
  return {
    subject,
    command: subject,
    user: request?.ctx?.user_id ?? request?.by?.user_id,
    connection: request?.ctx?.connection_id,
    project: request?.ctx?.project_id ?? payload?.project_id,
    trace: currentTraceId(),
  };
}

/** At most 500 characters of what a service sent, for a log line. */
function excerpt(value: unknown): string {
  let text: string;
  try {
    // JSON.stringify gives undefined for undefined (and functions), whatever its type says.
    const json: unknown = JSON.stringify(value);
    text = typeof value === 'string' ? value : typeof json === 'string' ? json : typeof value;
  } catch {
    text = typeof value;
  }
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/**
 * How long the caller waits for this request, in ms (a header of every request): a service drops
 * a command still waiting for its turn when that has passed (servicekit's handle), since nobody
 * would read its answer. Relative, so the two machines' clocks need not agree.
 */
export const REQUEST_TIMEOUT_HEADER = 'Siteflow-Timeout-Ms';

/** nc.request with the caller's timeout in the `Siteflow-Timeout-Ms` header (beside any others). */
function requestWithTimeout(nc: NatsConnection, subject: string, payload: Uint8Array, opts: NatsRequestOptions): Promise<Msg> {
  const h: MsgHdrs = opts.headers ?? createHeaders();
  h.set(REQUEST_TIMEOUT_HEADER, String(opts.timeout));
  return nc.request(subject, payload, { ...opts, headers: h });
}

/** Like requestService, but returns the data or throws the AppError. */
export async function callService<T = unknown>(nc: NatsConnection, subject: string, data: unknown, opts: RequestOptions): Promise<T> {
  const reply = await requestService<T>(nc, subject, data, opts);
  if (!reply.ok) throw new AppError(reply.error.code, reply.error.message, reply.error.details);
  return reply.data;
}

/** True for the error of a request nobody subscribes to (requestService's "<service> service is not running"). */
export function isNotRunning(error: ErrorBody): boolean {
  return error.code === 'unavailable' && error.message.endsWith(NOT_RUNNING);
}

const NOT_RUNNING = ' service is not running';

function natsFailure(subject: string, e: unknown): ErrorBody {
  const service = subject.split('.')[0] ?? subject;
  if (e instanceof RequestError && e.isNoResponders()) {
    return { code: 'unavailable', message: `${service}${NOT_RUNNING}` };
  }
  if (e instanceof NoRespondersError) return { code: 'unavailable', message: `${service}${NOT_RUNNING}` };
  if (e instanceof TimeoutError || (e instanceof RequestError && e.cause instanceof TimeoutError)) {
    return { code: 'unavailable', message: `${service} service did not answer in time` };
  }
  return { code: 'unavailable', message: `${service} service is unreachable` };
}
