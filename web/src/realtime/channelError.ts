import type { ErrorCode } from '@siteflow/contracts';
import { ERROR_CODES } from '@siteflow/contracts/constants';

/**
 * A refused or unanswered push: the `phx_reply` error payload `{reason, code}`. A push that got
 * no answer in time is `unavailable`, as the gateway itself reports a silent service.
 */
export class ChannelError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, reason: string, details?: Record<string, unknown>) {
    super(reason);
    this.name = 'ChannelError';
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);

/** Phoenix's own reason for a topic no channel serves (sent without a code). */
const UNMATCHED_TOPIC = 'unmatched topic';

/** Reads an error reply defensively: a missing or unknown code becomes `internal`. */
export function toChannelError(response: unknown): ChannelError {
  const r = typeof response === 'object' && response !== null ? (response as Record<string, unknown>) : {};
  const reason = typeof r.reason === 'string' && r.reason !== '' ? r.reason : 'the server refused the request';
  const code: ErrorCode = isErrorCode(r.code) ? r.code : reason === UNMATCHED_TOPIC ? 'unmatched_topic' : 'internal';
  const details = typeof r.details === 'object' && r.details !== null ? (r.details as Record<string, unknown>) : undefined;
  return new ChannelError(code, reason, details);
}

export const timeoutError = () => new ChannelError('unavailable', 'the server did not answer in time');
export const notConnectedError = () => new ChannelError('unavailable', 'not connected to the room');

/** Join refusals that retrying cannot fix: stop rejoining and tell the user. */
export function isTerminalJoinError(error: ChannelError): boolean {
  return ['unauthorized', 'forbidden', 'not_found', 'unmatched_topic', 'invalid_payload'].includes(error.code);
}
