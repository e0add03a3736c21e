import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { RequestError, TimeoutError, NoRespondersError } from '@nats-io/transport-node';
import { AppError, NestReplyPacket, ReplyEnvelope, type ErrorBody } from '@siteflow/contracts';

const encoder = new TextEncoder();

/**
 * The one way to ask a service something over NATS. Speaks Nest's packet format (request
 * `{pattern, data, id}`, reply `{id, response | err, isDisposed}`), so the gateway, tests and tools
 * can call NestJS handlers without being Nest apps. Never throws: a timeout, no responders or a
 * malformed reply becomes an error envelope with code `unavailable` or `internal`.
 */
export async function requestService<T = unknown>(
  nc: NatsConnection,
  subject: string,
  data: unknown,
  opts: { timeoutMs: number },
): Promise<ReplyEnvelope<T>> {
  const id = randomUUID();
  let raw: Uint8Array;
  try {
    const msg = await nc.request(subject, encoder.encode(JSON.stringify({ pattern: subject, data, id })), {
      timeout: opts.timeoutMs,
    });
    raw = msg.data;
  } catch (e) {
    return { ok: false, error: natsFailure(subject, e) };
  }
  let packet: NestReplyPacket;
  try {
    packet = NestReplyPacket.parse(JSON.parse(new TextDecoder().decode(raw)));
  } catch {
    return { ok: false, error: { code: 'internal', message: `malformed reply on ${subject}` } };
  }
  if (packet.err !== undefined) {
    return { ok: false, error: { code: 'internal', message: `service failed on ${subject}` } };
  }
  const envelope = ReplyEnvelope.safeParse(packet.response);
  if (!envelope.success) {
    return { ok: false, error: { code: 'internal', message: `reply on ${subject} is not an envelope` } };
  }
  return envelope.data as ReplyEnvelope<T>;
}

/** Like requestService, but returns the data or throws the AppError. */
export async function callService<T = unknown>(
  nc: NatsConnection,
  subject: string,
  data: unknown,
  opts: { timeoutMs: number },
): Promise<T> {
  const reply = await requestService<T>(nc, subject, data, opts);
  if (!reply.ok) throw new AppError(reply.error.code, reply.error.message, reply.error.details);
  return reply.data;
}

function natsFailure(subject: string, e: unknown): ErrorBody {
  const service = subject.split('.')[0] ?? subject;
  if (e instanceof RequestError && e.isNoResponders()) {
    return { code: 'unavailable', message: `${service} service is not running` };
  }
  if (e instanceof NoRespondersError) return { code: 'unavailable', message: `${service} service is not running` };
  if (e instanceof TimeoutError || (e instanceof RequestError && e.cause instanceof TimeoutError)) {
    return { code: 'unavailable', message: `${service} service did not answer in time` };
  }
  return { code: 'unavailable', message: `${service} service is unreachable` };
}
