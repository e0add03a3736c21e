import type { ChatMessage, HistoryReply, RoomSnapshot } from '@siteflow/contracts';
import { useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ChannelApi } from '../realtime/useChannel.js';
import { Avatar } from '../ui/Avatar.js';
import { describeSendError } from './chatErrors.js';
import { formatMessageTime } from './formatTime.js';
import { CHAT_MAX_TEXT, validateDraft } from './messages.js';

interface Props {
  messages: readonly ChatMessage[];
  hasMore: boolean;
  selfId: number;
  joined: boolean;
  push: ChannelApi<RoomSnapshot>['push'];
  /** The accepted message from the push reply (its broadcast may come before or after). */
  onSent: (message: ChatMessage) => void;
  onHistory: (reply: HistoryReply) => void;
}

/** Within this many pixels of the bottom, the list follows new messages. */
const STICKY_PX = 48;

export function ChatPanel({ messages, hasMore, selfId, joined, push, onSent, onHistory }: Props) {
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
  const heightBeforePrepend = useRef<number | null>(null);

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
    if (list) stickToBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < STICKY_PX;
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
      const message = await push('chat:message', { text: checked.text });
      onSent(message);
      setDraft('');
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
    <section className="panel chat-panel" aria-labelledby="chat-heading">
      <h2 id="chat-heading" className="panel-title">
        Chat
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
              <p className="chat-text">{m.text}</p>
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
          }}
          onKeyDown={onKeyDown}
          aria-invalid={error !== null || tooLong}
          aria-describedby={error ? `${errorId} ${hintId}` : hintId}
        />
        <button type="submit" className="button button-primary" disabled={sending} aria-busy={sending}>
          {sending ? 'Sending…' : 'Send'}
        </button>
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
