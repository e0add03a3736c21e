import type { ChatMessage, HistoryReply, RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { RetryKeys } from '../realtime/retryKeys.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { Avatar } from '../ui/Avatar.js';
import { describeSendError } from './chatErrors.js';
import { formatMessageTime } from './formatTime.js';
import { CHAT_MAX_TEXT } from '@siteflow/contracts/constants';
import { isLongMessage, markReadTarget, unreadBadge, validateDraft } from './messages.js';
import { pruneTypists, receiveTyping, TYPING_IDLE_MS, typingRenewDue, typingText, type Typist } from './typing.js';

interface Props {
  messages: readonly ChatMessage[];
  hasMore: boolean;
  selfId: number;
  joined: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  on: ChannelApi<RoomSnapshot>['on'];
  unreadCount: number;
  /** The unread count after one's own `chat:mark_read`. */
  onRead: (unreadCount: number) => void;
  /** The accepted message from the push reply (its broadcast may come before or after). */
  onSent: (message: ChatMessage) => void;
  onHistory: (reply: HistoryReply) => void;
}

/** Within this many pixels of the bottom, the list follows new messages. */
const STICKY_PX = 48;

export function ChatPanel({ messages, hasMore, selfId, joined, push, on, unreadCount, onRead, onSent, onHistory }: Props) {
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

  const listRef = useRef<HTMLOListElement>(null);
  const stickToBottom = useRef(true);
  const retryKeys = useRef(new RetryKeys());
  const heightBeforePrepend = useRef<number | null>(null);
  const [atBottom, setAtBottom] = useState(true);
  const [onScreen, setOnScreen] = useState(false);
  const [pageVisible, setPageVisible] = useState(() => document.visibilityState === 'visible');
  const lastMarked = useRef<string | null>(null);

  // Others typing: from broadcasts, each ending by itself after the TTL if no stop arrives.
  const [typists, setTypists] = useState<readonly Typist[]>([]);
  useEffect(() => {
    setTypists([]);
    return on('chat:typing', (p) => setTypists((list) => receiveTyping(pruneTypists(list, Date.now()), p, selfId, Date.now())));
  }, [on, selfId]);
  useEffect(() => {
    if (typists.length === 0) return;
    const timer = window.setInterval(() => setTypists((list) => pruneTypists(list, Date.now())), 1_000);
    return () => window.clearInterval(timer);
  }, [typists.length]);
  // A new message from someone ends their typing.
  const newest = messages[messages.length - 1];
  useEffect(() => {
    if (newest)
      setTypists((list) => (list.some((t) => t.user_id === newest.user_id) ? list.filter((t) => t.user_id !== newest.user_id) : list));
  }, [newest]);

  // My typing state: sent on the first key, renewed while typing, ended after a pause or on send.
  const typingSentAt = useRef<number | null>(null);
  const typingIdle = useRef<number | null>(null);
  const stopTyping = useCallback(() => {
    if (typingIdle.current !== null) window.clearTimeout(typingIdle.current);
    typingIdle.current = null;
    if (typingSentAt.current === null) return;
    typingSentAt.current = null;
    push('chat:stop_typing', {}).catch(() => undefined);
  }, [push]);
  const noteTyping = () => {
    if (!joined) return;
    const now = Date.now();
    if (typingRenewDue(typingSentAt.current, now)) {
      typingSentAt.current = now;
      // Best effort: a lost typing signal ends by itself on the other side.
      push('chat:typing', {}).catch(() => undefined);
    }
    if (typingIdle.current !== null) window.clearTimeout(typingIdle.current);
    typingIdle.current = window.setTimeout(stopTyping, TYPING_IDLE_MS);
  };
  useEffect(() => () => stopTyping(), [stopTyping]);

  // Read means seen: the newest message is on screen, in a visible tab, scrolled to the bottom.
  useEffect(() => {
    const list = listRef.current;
    if (!list || typeof IntersectionObserver === 'undefined') {
      setOnScreen(true);
      return;
    }
    const observer = new IntersectionObserver((entries) => setOnScreen(entries.some((e) => e.isIntersecting)), { threshold: 0.3 });
    observer.observe(list);
    return () => observer.disconnect();
  }, []);
  useEffect(() => {
    const update = () => setPageVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  useEffect(() => {
    if (!joined) return;
    const target = markReadTarget(messages, unreadCount, lastMarked.current, onScreen && pageVisible && atBottom);
    if (!target) return;
    lastMarked.current = target;
    push('chat:mark_read', { last_read_id: target })
      .then((reply) => onRead(reply.unread_count))
      .catch(() => {
        // Try again with the next chance (a new message or scroll).
        lastMarked.current = null;
      });
  }, [messages, unreadCount, onScreen, pageVisible, atBottom, joined, push, onRead]);

  // Follow new messages when the reader is at the bottom or wrote the message; keep the
  // reader's place when an older page is put above.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (heightBeforePrepend.current !== null) {
      list.scrollTop += list.scrollHeight - heightBeforePrepend.current;
      heightBeforePrepend.current = null;
      return;
    }
    const last = messages[messages.length - 1];
    if (stickToBottom.current || last?.user_id === selfId) list.scrollTop = list.scrollHeight;
  }, [messages, selfId]);

  const onScroll = () => {
    const list = listRef.current;
    if (!list) return;
    stickToBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < STICKY_PX;
    setAtBottom(stickToBottom.current);
  };

  const send = async () => {
    if (sending) return;
    const checked = validateDraft(draft);
    if (!checked.ok) {
      setError(checked.reason);
      return;
    }
    setSending(true);
    setError(null);
    try {
      // Sending the same text again after a failure is a retry of that message, not a second one.
      const intent = checked.text;
      const message = await push('chat:message', { text: checked.text }, { idempotencyKey: retryKeys.current.keyFor(intent) });
      retryKeys.current.succeeded(intent);
      onSent(message);
      setDraft('');
      stopTyping();
    } catch (e) {
      setError(describeSendError(e));
    } finally {
      setSending(false);
    }
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void send();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition is neither.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const loadOlder = async () => {
    const oldest = messages[0];
    if (!oldest || loadingOlder) return;
    setLoadingOlder(true);
    setHistoryError(null);
    try {
      const reply = await push('chat:history', { before_id: oldest.id });
      if (reply.messages.length > 0) heightBeforePrepend.current = listRef.current?.scrollHeight ?? null;
      onHistory(reply);
    } catch (e) {
      setHistoryError(describeSendError(e).replace(/^Message not sent/, 'Could not load earlier messages'));
    } finally {
      setLoadingOlder(false);
    }
  };

  const tooLong = draft.trim().length > CHAT_MAX_TEXT;

  return (
    <section className="panel chat-panel" id="chat" aria-labelledby="chat-heading">
      <h2 id="chat-heading" className="panel-title">
        Chat
        {unreadCount > 0 && (
          <span className="unread-badge" data-testid="unread-badge" aria-label={`${unreadCount} unread`}>
            {unreadBadge(unreadCount)}
          </span>
        )}
      </h2>
      <ol className="chat-messages" ref={listRef} onScroll={onScroll} role="log" aria-labelledby="chat-heading" tabIndex={0}>
        {hasMore && (
          <li className="chat-more">
            <button type="button" className="button button-quiet" onClick={() => void loadOlder()} disabled={loadingOlder || !joined}>
              {loadingOlder ? 'Loading…' : 'Load earlier messages'}
            </button>
            {historyError && <p className="inline-error">{historyError}</p>}
          </li>
        )}
        {messages.length === 0 && <li className="empty">No messages yet. Say hello to the team.</li>}
        {messages.map((m) => (
          <li key={m.id} className={`chat-message${m.user_id === selfId ? ' is-mine' : ''}`} data-message-id={m.id}>
            <Avatar userId={m.user_id} name={m.username} size="sm" />
            <div className="chat-bubble">
              <p className="chat-meta">
                <span className="chat-author">{m.user_id === selfId ? 'You' : m.username}</span>{' '}
                <time dateTime={m.timestamp}>{formatMessageTime(m.timestamp)}</time>
              </p>
              {/* Plain text: React escapes it; line breaks are kept by CSS (white-space: pre-wrap). */}
              <ChatText text={m.text} />
            </div>
          </li>
        ))}
      </ol>

      <form className="chat-form" onSubmit={onSubmit}>
        <label htmlFor={inputId} className="visually-hidden">
          Message
        </label>
        <textarea
          id={inputId}
          name="message"
          className="chat-input"
          rows={2}
          placeholder={joined ? 'Write a message…' : 'Reconnecting…'}
          value={draft}
          onChange={(e) => {
            setDraft(e.target.value);
            if (error) setError(null);
            if (e.target.value.trim() === '') stopTyping();
            else noteTyping();
          }}
          onKeyDown={onKeyDown}
          onBlur={stopTyping}
          aria-invalid={error !== null || tooLong}
          aria-describedby={error ? `${errorId} ${hintId}` : hintId}
        />
        <button type="submit" className="button button-primary" disabled={sending} aria-busy={sending}>
          {sending ? 'Sending…' : 'Send'}
        </button>
        <p className="typing-indicator" aria-live="polite" data-testid="typing-indicator">
          {typingText(typists)}
        </p>
        <p id={hintId} className="chat-hint">
          {tooLong ? `${draft.trim().length} / ${CHAT_MAX_TEXT} characters` : 'Enter to send · Shift+Enter for a new line'}
        </p>
        {error && (
          <p id={errorId} className="inline-error chat-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}

/** A message's text; a long one is collapsed to a few lines until the reader opens it. */
function ChatText({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  const textId = useId();
  if (!isLongMessage(text)) return <p className="chat-text">{text}</p>;
  return (
    <>
      <p id={textId} className={`chat-text${open ? '' : ' is-collapsed'}`}>
        {text}
      </p>
      <button
        type="button"
        className="button button-quiet button-small chat-more-text"
        aria-expanded={open}
        aria-controls={textId}
        onClick={() => setOpen((o) => !o)}
      >
        {open ? 'Show less' : 'Show more'}
      </button>
    </>
  );
}
