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
