import { describe, expect, it } from 'vitest';
import { ChannelError } from '../realtime/channelError.js';
import { describeSendError } from './chatErrors.js';
import { formatMessageTime } from './formatTime.js';

describe('describeSendError', () => {
  it("carries the server's reason", () => {
    expect(describeSendError(new ChannelError('rate_limited', 'at most 10 messages per 10 seconds'))).toBe(
      'Slow down, you are sending messages too quickly: at most 10 messages per 10 seconds',
    );
    expect(describeSendError(new ChannelError('invalid_payload', 'text: message is empty'))).toBe(
      'Message not accepted: text: message is empty',
    );
    expect(describeSendError(new ChannelError('unavailable', 'not connected to the room'))).toMatch(/not connected to the room/);
  });

  it('does not leak arbitrary errors', () => {
    expect(describeSendError(new Error('TypeError at foo.js:1'))).toBe('Message not sent: something went wrong. Try again.');
  });
});

describe('formatMessageTime', () => {
  const now = new Date('2025-03-10T15:00:00Z');
  it('shows only the time for today', () => {
    expect(formatMessageTime('2025-03-10T14:05:00Z', now, 'en-GB', 'UTC')).toBe('14:05');
  });
  it('adds the date for older messages', () => {
    expect(formatMessageTime('2025-01-03T14:05:00Z', now, 'en-GB', 'UTC')).toBe('3 Jan, 14:05');
  });
  it('is empty for a bad timestamp', () => {
    expect(formatMessageTime('nope', now)).toBe('');
  });
});
