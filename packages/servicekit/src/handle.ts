import { AsyncLocalStorage } from 'node:async_hooks';
import type { z } from 'zod';
import type { Logger } from 'pino';
import { AppError, describeIssues, type ReplyEnvelope } from '@siteflow/contracts';
import {
  ConcurrencyError,
  databaseUnavailableReason,
  IdempotencyKeyReused,
  StreamNotReserved,
  withIdempotencyKey,
} from '@siteflow/eventstore';
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
  if (!commandObserver) return admitThenRun(logger, subject, schema, raw, work);
  const started = performance.now();
  const reply = await admitThenRun(logger, subject, schema, raw, work);
  commandObserver(subject, reply.ok ? 'ok' : outcomeOf(reply.error), (performance.now() - started) / 1000);
  return reply;
}

/**
 * When the caller stops waiting for the request being handled (performance.now() time), taken
 * from its `Siteflow-Timeout-Ms` header by `withRequestTimeout`; undefined when it sent none.
 */
const requestDeadline = new AsyncLocalStorage<number>();

/**
 * Runs a request's handling with the deadline its caller sent: `timeoutMs` (how long the caller
 * waits, from requestService's `Siteflow-Timeout-Ms` header) from now. A relative timeout, not a
 * wall-clock instant, so the caller's and this machine's clocks need not agree.
 */
export function withRequestTimeout<T>(timeoutMs: number | undefined, handler: () => T): T {
  if (timeoutMs === undefined || !Number.isFinite(timeoutMs) || timeoutMs <= 0) return handler();
  return requestDeadline.run(performance.now() + timeoutMs, handler);
}

/** How many commands a process runs at once, and how many may wait for a turn. */
export interface CommandLimits {
  maxConcurrent: number;
  maxQueued: number;
}

/** The replies of a command that never ran: its caller gave up, or too many were waiting. */
const DROPPED = 'deadline';
const OVERLOADED = 'overloaded';

function outcomeOf(error: { code: string; details?: Record<string, unknown> | undefined }): string {
  const why = error.details?.not_run;
  return why === DROPPED || why === OVERLOADED ? why : error.code;
}

/**
 * Admits commands up to `maxConcurrent` at once; the next `maxQueued` wait their turn in order
 * (each only until its caller's deadline: work nobody waits for any more is dropped, never run);
 * beyond that a command is refused at once with `unavailable` and a retry-after.
 */
export class CommandGate {
  private active = 0;
  private readonly queue: Array<{ admit: () => void }> = [];

  constructor(readonly limits: CommandLimits) {}

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves `ok` with a turn (give it back with `release`), or why the command must not run. */
  acquire(deadline: number | undefined): Promise<'ok' | typeof DROPPED | typeof OVERLOADED> {
    if (deadline !== undefined && performance.now() >= deadline) return Promise.resolve(DROPPED);
    if (this.active < this.limits.maxConcurrent) {
      this.active++;
      return Promise.resolve('ok');
    }
    if (this.queue.length >= this.limits.maxQueued) return Promise.resolve(OVERLOADED);
    return new Promise((resolve) => {
      const waiter = {
        admit: () => {
          clearTimeout(timer);
          resolve('ok');
        },
      };
      const timer =
        deadline === undefined
          ? undefined
          : setTimeout(
              () => {
                const i = this.queue.indexOf(waiter);
                if (i >= 0) this.queue.splice(i, 1);
                resolve(DROPPED);
              },
              Math.max(0, deadline - performance.now()),
            );
      this.queue.push(waiter);
    });
  }

  /** Hands the turn to the next waiting command, if any. */
  release(): void {
    const next = this.queue.shift();
    if (next) next.admit();
    else this.active--;
  }
}

let commandGate: CommandGate | null = null;

/** Bounds the commands this process runs at once (bootService sets it from the config); null: no bound. */
export function limitCommands(limits: CommandLimits | null): CommandGate | null {
  commandGate = limits ? new CommandGate(limits) : null;
  return commandGate;
}

async function admitThenRun<S extends z.ZodType, R>(
  logger: Logger,
  subject: string,
  schema: S,
  raw: unknown,
  work: (input: z.infer<S>) => Promise<R>,
): Promise<ReplyEnvelope<R>> {
  const deadline = requestDeadline.getStore();
  const gate = commandGate;
  const turn = gate ? await gate.acquire(deadline) : 'ok';
  if (turn === 'ok' && (deadline === undefined || performance.now() < deadline)) {
    try {
      return await runCommand(logger, subject, schema, raw, work);
    } finally {
      gate?.release();
    }
  }
  if (turn === 'ok') gate?.release();
  if (turn === OVERLOADED) {
    logger.warn({ command: subject, running: gate?.running, waiting: gate?.waiting }, 'too many commands waiting; refused');
    return {
      ok: false,
      error: {
        code: 'unavailable',
        message: 'the service is busy; try again shortly',
        details: { not_run: OVERLOADED, retry_after_ms: 1_000 },
      },
    };
  }
  // The caller gave up: its answer would go nowhere, and the work is not done.
  logger.debug({ command: subject }, 'dropped: the caller stopped waiting before its turn');
  return { ok: false, error: { code: 'unavailable', message: 'the caller stopped waiting; not run', details: { not_run: DROPPED } } };
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
 * (optimistic concurrency), or when it wrote a stream it had not reserved (StreamNotReserved: the
 * streams it reserves are read again). The work must be a whole transaction.
 */
export async function retryOnConcurrency<T>(work: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (!(e instanceof ConcurrencyError || e instanceof StreamNotReserved) || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    }
  }
}
