import type { ChatMessage } from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { CHAT_MAX_TEXT } from '@siteflow/contracts/constants';
import {
  chatLogOf,
  isLongMessage,
  LONG_MESSAGE_CHARS,
  LONG_MESSAGE_LINES,
  markReadTarget,
  prependPage,
  receiveBroadcast,
  receiveOwnReply,
  unreadBadge,
  validateDraft,
  type ChatLog,
} from './messages.js';

// Random-looking ids on purpose: the order of messages is never the order of their ids.
const ids = [
  'm_9f000000-0000-4000-8000-000000000000',
  'm_10000000-0000-4000-8000-000000000000',
  'm_c3000000-0000-4000-8000-000000000000',
  'm_0a000000-0000-4000-8000-000000000000',
  'm_77000000-0000-4000-8000-000000000000',
  'm_42000000-0000-4000-8000-000000000000',
];
const msg = (n: number, text = `message ${n}`, user_id = 1): ChatMessage => ({
  id: ids[n]!,
  text,
  user_id,
  username: user_id === 1 ? 'alice' : 'bob',
  avatar_url: '',
  timestamp: new Date(Date.UTC(2025, 0, 1, 10, 0, n)).toISOString(),
});
const texts = (log: ChatLog) => log.messages.map((m) => m.text);

describe('chat log', () => {
  it('keeps the snapshot order and drops repeated ids', () => {
    expect(texts(chatLogOf([msg(2), msg(0), msg(1), msg(0)]))).toEqual(['message 2', 'message 0', 'message 1']);
  });

  it('appends broadcasts in arrival order, each once', () => {
    let log = chatLogOf([msg(0)]);
    log = receiveBroadcast(log, msg(3));
    log = receiveBroadcast(log, msg(1));
    const again = receiveBroadcast(log, msg(1));
    expect(again).toBe(log);
    expect(texts(log)).toEqual(['message 0', 'message 3', 'message 1']);
  });

  it('updates a changed message in place', () => {
    const log = receiveBroadcast(chatLogOf([msg(0), msg(1)]), msg(0, 'edited'));
    expect(texts(log)).toEqual(['edited', 'message 1']);
  });

  it('shows my message from the reply and keeps one copy when its broadcast follows', () => {
    let log = receiveOwnReply(chatLogOf([msg(0)]), msg(1));
    expect(texts(log)).toEqual(['message 0', 'message 1']);
    log = receiveBroadcast(log, msg(1));
    expect(texts(log)).toEqual(['message 0', 'message 1']);
    expect(log.unconfirmed).toEqual([]);
  });

  it('ignores the reply when the broadcast came first', () => {
    const log = receiveBroadcast(chatLogOf([msg(0)]), msg(1));
    expect(receiveOwnReply(log, msg(1))).toBe(log);
  });

  it('puts my message after an earlier one whose broadcast the reply overtook', () => {
    // Stream: other (2) then mine (3). My reply arrives before the broadcast of 2.
    let log = receiveOwnReply(chatLogOf([msg(0)]), msg(3));
    log = receiveBroadcast(log, msg(2, 'message 2', 2));
    log = receiveBroadcast(log, msg(3));
    expect(texts(log)).toEqual(['message 0', 'message 2', 'message 3']);
  });

  it('puts an older page first, without repeats', () => {
    const log = prependPage(chatLogOf([msg(3), msg(4)]), [msg(1), msg(2), msg(3)]);
    expect(texts(log)).toEqual(['message 1', 'message 2', 'message 3', 'message 4']);
    expect(prependPage(log, [msg(1)])).toBe(log);
  });
});

describe('validateDraft', () => {
  it('trims and refuses empty or oversized drafts', () => {
    expect(validateDraft('  hi \n')).toEqual({ ok: true, text: 'hi' });
    expect(validateDraft(' \n\t ')).toMatchObject({ ok: false });
    expect(validateDraft('x'.repeat(CHAT_MAX_TEXT))).toMatchObject({ ok: true });
    expect(validateDraft('x'.repeat(CHAT_MAX_TEXT + 1))).toMatchObject({ ok: false });
  });
});

describe('marking chat read', () => {
  const log = [msg(0), msg(1)];
  it('marks up to the newest message when the reader sees it', () => {
    expect(markReadTarget(log, 2, null, true)).toBe(ids[1]);
  });
  it('does not mark what is unseen, already marked, or with nothing unread', () => {
    expect(markReadTarget(log, 2, null, false)).toBeNull();
    expect(markReadTarget(log, 2, ids[1]!, true)).toBeNull();
    expect(markReadTarget(log, 0, null, true)).toBeNull();
    expect(markReadTarget([], 3, null, true)).toBeNull();
  });
  it('caps the badge', () => {
    expect(unreadBadge(7)).toBe('7');
    expect(unreadBadge(250)).toBe('99+');
  });
});

describe('long messages', () => {
  it('collapses a message over the character or line bound, not one at it', () => {
    expect(isLongMessage('x'.repeat(LONG_MESSAGE_CHARS))).toBe(false);
    expect(isLongMessage('x'.repeat(LONG_MESSAGE_CHARS + 1))).toBe(true);
    expect(isLongMessage(Array.from({ length: LONG_MESSAGE_LINES }, () => 'a').join('\n'))).toBe(false);
    expect(isLongMessage(Array.from({ length: LONG_MESSAGE_LINES + 1 }, () => 'a').join('\n'))).toBe(true);
  });
});
