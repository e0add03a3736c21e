import { ERROR_CODES } from '@siteflow/contracts/constants';
import { describe, expect, it } from 'vitest';
import { ChannelError, isTerminalJoinError, timeoutError, toChannelError } from './channelError.js';

describe('toChannelError', () => {
  it('keeps the code and reason of a gateway error reply', () => {
    const e = toChannelError({ reason: 'slow down', code: 'rate_limited', details: { retry_after_ms: 900 } });
    expect(e).toBeInstanceOf(ChannelError);
    expect(e).toMatchObject({ code: 'rate_limited', reason: 'slow down', message: 'slow down', details: { retry_after_ms: 900 } });
  });

  it("maps Phoenix's bare unmatched topic", () => {
    expect(toChannelError({ reason: 'unmatched topic' })).toMatchObject({ code: 'unmatched_topic' });
  });

  it('survives junk', () => {
    expect(toChannelError(undefined)).toMatchObject({ code: 'internal', reason: 'the server refused the request' });
    expect(toChannelError({ code: 'bogus', reason: 7 })).toMatchObject({ code: 'internal' });
  });

  it('reports a timeout as unavailable', () => {
    expect(timeoutError()).toMatchObject({ code: 'unavailable' });
  });

  it('tells terminal join errors from transient ones', () => {
    expect(isTerminalJoinError(new ChannelError('not_found', 'no such project'))).toBe(true);
    expect(isTerminalJoinError(new ChannelError('unavailable', 'down'))).toBe(false);
  });
});

describe('error codes', () => {
  it('keeps every code of the closed set', () => {
    for (const code of ERROR_CODES) expect(toChannelError({ code, reason: 'r' }).code).toBe(code);
  });
});
