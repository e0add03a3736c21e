import type { ExpectedVersion } from './types.js';

/**
 * The stream was not at the expected version (or another transaction appended to it first).
 * The caller reloads the stream, decides again and retries.
 */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
  readonly streamId: string;
  readonly expected: ExpectedVersion;
  /** The stream's version when the conflict was seen; -1 when it could not be read. */
  readonly actual: number;

  constructor(streamId: string, expected: ExpectedVersion, actual: number) {
    super(`stream ${streamId}: expected version ${String(expected)}, found ${actual < 0 ? 'a concurrent append' : actual}`);
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

export function isConcurrencyError(err: unknown): err is ConcurrencyError {
  return err instanceof ConcurrencyError;
}

/** Node socket errors that mean the database cannot be reached or the connection broke. */
const SOCKET_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * What `pg` and `pg-pool` throw, without a code, when a connection fails or a bound runs out (their
 * messages are their only identity).
 */
const CLIENT_ERROR_MESSAGES: Array<[RegExp, string]> = [
  [/^timeout exceeded when trying to connect/, 'no database connection could be had in time'],
  [/^Connection terminated due to connection timeout/, 'the database did not accept a connection in time'],
  [/^Query read timeout/, 'the database did not answer in time'],
  [/^Connection terminated/, 'the database connection broke'],
  [/not queryable/, 'the database connection broke'],
];

/**
 * When `err` says the database is out of reach or too slow (not that the request is wrong), a
 * short reason for people; otherwise null. Such a failure is worth retrying later: callers answer
 * it `unavailable`, not `internal`.
 */
export function databaseUnavailableReason(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (SOCKET_ERROR_CODES.has(code)) return `the database cannot be reached (${code})`;
    // SQLSTATE: class 08 connection exception, 57P0x shutdown or starting up, 53 out of resources.
    if (code.startsWith('08')) return 'the database connection failed';
    if (code === '57P01' || code === '57P02' || code === '57P03') return 'the database is restarting';
    if (code === '57014') return 'the database did not answer in time (statement timeout)';
    if (code === '25P03') return 'the transaction was idle too long and the database ended it';
    if (code.startsWith('53')) return 'the database is out of resources (connections, memory or disk)';
  }
  for (const [pattern, reason] of CLIENT_ERROR_MESSAGES) if (pattern.test(err.message)) return reason;
  return null;
}
