import { ChannelError } from './channelError.js';

/** A refused push as a ChannelError; anything else thrown (a bug) is hidden behind a generic one. */
export function asChannelError(error: unknown): ChannelError {
  return error instanceof ChannelError ? error : new ChannelError('internal', 'something went wrong');
}

/** A lock refusal (`locked`) names the holder; `same_user` means another window of mine holds it. */
export function lockRefusal(error: ChannelError): { holder: string | null; sameUser: boolean } | null {
  if (error.code !== 'locked') return null;
  const holder = typeof error.details?.username === 'string' ? error.details.username : null;
  return { holder, sameUser: error.details?.same_user === true };
}

/** `version_conflict` carries the version the document is at now. */
export function currentVersionOf(error: ChannelError): number | undefined {
  const v = error.details?.current_version;
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** One sentence for a failed document action, led by what failed. */
export function describeActionError(what: string, error: unknown): string {
  const e = asChannelError(error);
  switch (e.code) {
    case 'locked': {
      const refusal = lockRefusal(e);
      return refusal?.sameUser ? `${what}: you are editing this document in another window.` : `${what}: ${e.reason}.`;
    }
    case 'unavailable':
      return `${what}: ${e.reason}. Try again in a moment.`;
    case 'forbidden':
    case 'unauthorized':
      return `${what}: you are not allowed to (${e.reason}).`;
    default:
      return `${what}: ${e.reason}.`;
  }
}
