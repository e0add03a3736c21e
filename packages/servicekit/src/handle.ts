import type { z } from 'zod';
import type { Logger } from 'pino';
import { AppError, describeIssues, type ReplyEnvelope } from '@siteflow/contracts';
import { ConcurrencyError, databaseUnavailableReason, IdempotencyKeyReused, withIdempotencyKey } from '@siteflow/eventstore';
import { currentTraceId } from '@siteflow/telemetry';

/**
 * The shape of every NATS handler: parse the request with its zod schema, run the work, and turn the
 * outcome into a reply envelope. Bad input is `invalid_payload`; an AppError keeps its code; a
 * database out of reach or too slow is `unavailable` (worth a retry later); anything else is logged
 * and answered `internal` (the process keeps running).
 */
export async function handle<S extends z.ZodType, R>(
  logger: Logger,
  subject: string,
  schema: S,
  raw: unknown,
  work: (input: z.infer<S>) => Promise<R>,
): Promise<ReplyEnvelope<R>> {
  if (!commandObserver) return runCommand(logger, subject, schema, raw, work);
  const started = performance.now();
  const reply = await runCommand(logger, subject, schema, raw, work);
  commandObserver(subject, reply.ok ? 'ok' : reply.error.code, (performance.now() - started) / 1000);
  return reply;
}

/** Told of every command handled: its subject, its outcome (`ok` or an error code) and how long it took. */
export type CommandObserver = (command: string, outcome: string, seconds: number) => void;
let commandObserver: CommandObserver | null = null;

/** Where metrics (and later tracing) hook into every command; one per process, the last one set wins. */
export function observeCommands(observer: CommandObserver | null): void {
  commandObserver = observer;
}

async function runCommand<S extends z.ZodType, R>(
  logger: Logger,
  subject: string,
  schema: S,
  raw: unknown,
  work: (input: z.infer<S>) => Promise<R>,
): Promise<ReplyEnvelope<R>> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, error: { code: 'invalid_payload', message: describeIssues(parsed.error) } };
  }
  try {
    // A command the client keyed (`idempotency_key`) runs at most once per user and key: a retry
    // gets the first outcome (see @siteflow/eventstore's idempotency).
    const keyed = idempotencyOf(parsed.data);
    const data = keyed ? await withIdempotencyKey({ ...keyed, command: subject }, () => work(parsed.data)) : await work(parsed.data);
    return { ok: true, data };
  } catch (e) {
    if (e instanceof AppError) return { ok: false, error: e.toBody() };
    if (e instanceof IdempotencyKeyReused) return { ok: false, error: { code: 'invalid_payload', message: e.message } };
    if (e instanceof ConcurrencyError) {
      return { ok: false, error: { code: 'version_conflict', message: 'the data changed concurrently; try again' } };
    }
    const outage = databaseUnavailableReason(e);
    if (outage) {
      logger.warn({ err: e, ...concerns(subject, parsed.data) }, `handler failed: ${outage}`);
      return { ok: false, error: { code: 'unavailable', message: `${outage}; try again shortly` } };
    }
    logger.error({ err: e, ...concerns(subject, parsed.data) }, 'handler failed');
    return { ok: false, error: { code: 'internal', message: 'internal error' } };
  }
}

/** What a failed command concerns, for its log line: the command and who sent it, from where, in which project and trace. */
function concerns(subject: string, input: unknown): Record<string, unknown> {
  const ctx = typeof input === 'object' && input !== null ? (input as { ctx?: Record<string, unknown> }).ctx : undefined;
  return {
    trace: currentTraceId(),
    command: subject,
    user: ctx?.user_id,
    connection: ctx?.connection_id,
    project: ctx?.project_id,
  };
}

function idempotencyOf(input: unknown): { userId: number; key: string } | null {
  if (typeof input !== 'object' || input === null) return null;
  const { ctx, idempotency_key: key } = input as { ctx?: { user_id?: unknown }; idempotency_key?: unknown };
  return typeof key === 'string' && typeof ctx?.user_id === 'number' ? { userId: ctx.user_id, key } : null;
}

/**
 * Runs a read-decide-append unit again when another writer appended to the same stream first
 * (optimistic concurrency). The work must be a whole transaction.
 */
export async function retryOnConcurrency<T>(work: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (!(e instanceof ConcurrencyError) || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    }
  }
}
