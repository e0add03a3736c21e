import type { ServerPayload } from '@siteflow/contracts';
import { CHAT_TYPING_TTL_MS } from '@siteflow/contracts/constants';
/** The composer renews its typing state this often while keys are pressed, well inside the TTL. */
export const TYPING_RENEW_MS = 3_000;
/** Without a key for this long, the composer says it stopped. */
export const TYPING_IDLE_MS = 2_500;

export interface Typist {
  user_id: number;
  username: string;
  /** Epoch ms after which the indicator drops them even if no `typing: false` arrives. */
  until: number;
}

/** A `chat:typing` broadcast: someone started or stopped typing. One's own state is never shown. */
export function receiveTyping(
  typists: readonly Typist[],
  payload: ServerPayload<'chat:typing'>,
  selfId: number,
  now: number,
): readonly Typist[] {
  if (payload.user_id === selfId) return typists;
  const rest = typists.filter((t) => t.user_id !== payload.user_id);
  if (!payload.typing) return rest.length === typists.length ? typists : rest;
  return [...rest, { user_id: payload.user_id, username: payload.username, until: now + CHAT_TYPING_TTL_MS }];
}

/** Drops typists whose state lapsed; the same list when nobody did. */
export function pruneTypists(typists: readonly Typist[], now: number): readonly Typist[] {
  const live = typists.filter((t) => t.until > now);
  return live.length === typists.length ? typists : live;
}

/** "bob is typing…", "bob and carol are typing…", "4 people are typing…". */
export function typingText(typists: readonly Typist[]): string {
  const names = typists.map((t) => t.username);
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** Whether a key press should (re)send `chat:typing`: not yet sent, or due for renewal. */
export const typingRenewDue = (lastSentAt: number | null, now: number): boolean =>
  lastSentAt === null || now - lastSentAt >= TYPING_RENEW_MS;

/** A message from someone ends their typing; the same list when they were not typing. */
export function dropTypist(typists: readonly Typist[], userId: number): readonly Typist[] {
  return typists.some((t) => t.user_id === userId) ? typists.filter((t) => t.user_id !== userId) : typists;
}
