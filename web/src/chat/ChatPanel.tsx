import type { ChatMessage, HistoryReply, RoomSnapshot } from '@siteflow/contracts';
import { CHAT_MAX_TEXT } from '@siteflow/contracts/constants';
import { useId, useRef, useState, type KeyboardEvent } from 'react';
import { RetryKeys } from '../realtime/retryKeys.js';
import type { ChannelApi } from '../realtime/useChannel.js';
import { Avatar } from '../ui/Avatar.js';
import { describeSendError } from './chatErrors.js';
import { formatMessageTime } from './formatTime.js';
import { isLongMessage, unreadBadge, validateDraft } from './messages.js';
import { typingText } from './typing.js';
import { useChatScroll, useMarkRead } from './useChatReading.js';
import { useOwnTyping, useTypists } from './useTyping.js';

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

/** The room's chat: the messages (earlier ones on request), who is typing, and the composer. */
export function ChatPanel({ messages, hasMore, selfId, joined, push, on, unreadCount, onRead, onSent, onHistory }: Props) {
  const listRef = useRef<HTMLOListElement>(null);
  const { atBottom, onScroll, beforePrepend } = useChatScroll(listRef, messages, selfId);
  useMarkRead({ listRef, messages, unreadCount, atBottom, joined, push, onRead });
  const typists = useTypists(on, selfId, messages[messages.length - 1]);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [historyError, setHistoryError] = useState<string | null>(null);

  const loadOlder = async () => {
    const oldest = messages[0];
    if (!oldest || loadingOlder) return;
    setLoadingOlder(true);
    setHistoryError(null);
    try {
      const reply = await push('chat:history', { before_id: oldest.id });
      if (reply.messages.length > 0) beforePrepend();
      onHistory(reply);
    } catch (e) {
      setHistoryError(describeSendError(e).replace(/^Message not sent/, 'Could not load earlier messages'));
    } finally {
      setLoadingOlder(false);
    }
  };

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
      <ChatComposer joined={joined} push={push} onSent={onSent} typing={typingText(typists)} />
    </section>
  );
}

interface ComposerProps {
  joined: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  onSent: (message: ChatMessage) => void;
  /** Who else is typing, as the indicator says it. */
  typing: string;
}

/** Writing and sending a message: Enter sends, Shift+Enter is a new line; a failed send is retried as the same message. */
function ChatComposer({ joined, push, onSent, typing }: ComposerProps) {
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const retryKeys = useRef(new RetryKeys());
  const { noteTyping, stopTyping } = useOwnTyping(push, joined);
  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

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

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition is neither.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const tooLong = draft.trim().length > CHAT_MAX_TEXT;
  return (
    <form
      className="chat-form"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
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
        {typing}
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
        onClick={() => {
          setOpen((o) => !o);
        }}
      >
        {open ? 'Show less' : 'Show more'}
      </button>
    </>
  );
}
