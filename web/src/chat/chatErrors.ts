import { ChannelError } from '../realtime/channelError.js';

/** The inline error under the composer: the server's reason, led by what it means for the message. */
export function describeSendError(error: unknown): string {
  if (!(error instanceof ChannelError)) return 'Message not sent: something went wrong. Try again.';
  switch (error.code) {
    case 'rate_limited':
      return `Slow down, you are sending messages too quickly: ${error.reason}`;
    case 'invalid_payload':
    case 'payload_too_large':
      return `Message not accepted: ${error.reason}`;
    case 'unavailable':
      return `Message not sent: ${error.reason}. Try again in a moment.`;
    case 'unauthorized':
    case 'forbidden':
      return `You cannot post here: ${error.reason}`;
    default:
      return `Message not sent: ${error.reason}`;
  }
}
