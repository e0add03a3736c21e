import { JetStreamApiError } from '@nats-io/jetstream';
import { errors as natsErrors, RequestError } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/**
 * JetStream API error codes that mean "not yet" while a cluster forms (or re-forms after a node
 * was lost): asked again a moment later, the same request succeeds. Anything else the API answers
 * (a stream with conflicting settings, replicas above the node count, permissions) is an answer
 * no wait can change.
 */
const NOT_YET_CODES: ReadonlyMap<number, string> = new Map([
  [10008, 'the JetStream cluster has no meta leader yet'],
  [10005, 'no suitable peers for placement: not every node has joined the JetStream cluster yet'],
  [10023, 'insufficient resources: not every node has joined the JetStream cluster yet'],
  [10009, 'the JetStream cluster cannot handle the request yet (no leader)'],
]);

/**
 * Why `err` is a JetStream request that should be asked again (the cluster still forming, a
 * leader being elected, the server not answering yet), or null when it is an answer to act on:
 * a real configuration error, a permission refused, a stream that does not exist.
 */
export function transientJetStreamReason(err: unknown): string | null {
  if (err instanceof natsErrors.TimeoutError) return 'a JetStream API request timed out (no meta or stream leader answered)';
  if (err instanceof RequestError && err.isNoResponders()) return 'no JetStream responders (503): JetStream is not up yet';
  // The client turns "no responders" into a JetStreamNotEnabled (a class it does not export) caused
  // by the RequestError; one the server answered (10039, not enabled for the account) is no such thing.
  if (err instanceof Error && err.name === 'JetStreamNotEnabled' && err.cause instanceof RequestError && err.cause.isNoResponders())
    return 'no JetStream responders (503): JetStream is not up yet';
  if (err instanceof JetStreamApiError) {
    const known = NOT_YET_CODES.get(err.code);
    if (known) return `${known} (${err.code}: ${err.message})`;
    if (err.status === 503) return `JetStream is temporarily unavailable (${err.code}: ${err.message})`;
  }
  return null;
}

/** JetStream stayed unready for the whole wait: the caller gives up (a service exits, to be started again). */
export class JetStreamNotReadyError extends Error {
  constructor(
    readonly what: string,
    readonly waitedMs: number,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`JetStream was not ready within ${Math.round(waitedMs / 1000)} s: ${what} kept failing (${reason})`, options);
    this.name = 'JetStreamNotReadyError';
  }
}

export interface JetStreamRetryOptions {
  /** Where the wait is said (a warning at the first transient failure, then every `reportEveryMs`). */
  logger: Logger;
  /** How long to keep asking before giving up with JetStreamNotReadyError. Default 120 s. */
  timeoutMs?: number;
  /** First wait between attempts (doubles up to `maxDelayMs`). Default 250 ms. */
  minDelayMs?: number;
  /** Default 5 s. */
  maxDelayMs?: number;
  /** How often a continuing wait is said again. Default 10 s. */
  reportEveryMs?: number;
  /** Checked before each retry: when it says stop, the last error is thrown as it is. */
  stopped?: () => boolean;
}

/** The default bound: a cluster that has not formed within two minutes needs a person, not a wait. */
export const JETSTREAM_READY_TIMEOUT_MS = 120_000;

/**
 * Runs `attempt` (one JetStream exchange, e.g. ensuring a stream) until it succeeds, asking again
 * with backoff while it fails for a transient reason (see transientJetStreamReason), and saying
 * what it waits for. A non-transient failure is thrown at once; a transient one that outlasts
 * `timeoutMs` becomes a JetStreamNotReadyError naming what was waited for and why.
 */
export async function retryWhileJetStreamForms<T>(what: string, attempt: () => Promise<T>, opts: JetStreamRetryOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? JETSTREAM_READY_TIMEOUT_MS;
  const maxDelayMs = opts.maxDelayMs ?? 5_000;
  const reportEveryMs = opts.reportEveryMs ?? 10_000;
  const started = Date.now();
  let delay = opts.minDelayMs ?? 250;
  let reportedAt: number | null = null;
  let tries = 0;
  for (;;) {
    tries++;
    try {
      const result = await attempt();
      if (reportedAt !== null)
        opts.logger.info({ what, tries, waitedMs: Date.now() - started }, `JetStream ready: ${what} succeeded after ${tries} tries`);
      return result;
    } catch (err) {
      const reason = transientJetStreamReason(err);
      if (reason === null || opts.stopped?.()) throw err;
      const waited = Date.now() - started;
      if (waited + delay > timeoutMs) throw new JetStreamNotReadyError(what, waited, reason, { cause: err });
      const now = Date.now();
      if (reportedAt === null || now - reportedAt >= reportEveryMs) {
        reportedAt = now;
        opts.logger.warn(
          { what, reason, tries, waitedMs: waited, giveUpInMs: timeoutMs - waited },
          `waiting for JetStream: ${what} failed (${reason}); trying again for up to ${Math.round((timeoutMs - waited) / 1000)} s more`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
