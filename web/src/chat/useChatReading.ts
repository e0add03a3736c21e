import type { ChatMessage, RoomSnapshot } from '@siteflow/contracts';
import { useEffect, useLayoutEffect, useRef, useState, type RefObject } from 'react';
import type { ChannelApi } from '../realtime/useChannel.js';
import { markReadTarget } from './messages.js';

type Push = ChannelApi<RoomSnapshot>['push'];

interface MarkRead {
  listRef: RefObject<HTMLOListElement | null>;
  messages: readonly ChatMessage[];
  unreadCount: number;
  /** The reader is scrolled to the bottom of the list. */
  atBottom: boolean;
  joined: boolean;
  push: Push;
  onRead: (unreadCount: number) => void;
}

/** Read means seen: the newest message is on screen, in a visible tab, scrolled to the bottom. */
export function useMarkRead({ listRef, messages, unreadCount, atBottom, joined, push, onRead }: MarkRead): void {
  // Without IntersectionObserver (old browsers, tests) the list counts as on screen.
  const [onScreen, setOnScreen] = useState(() => typeof IntersectionObserver === 'undefined');
  const [pageVisible, setPageVisible] = useState(() => document.visibilityState === 'visible');
  const lastMarkedRef = useRef<string | null>(null);

  useEffect(() => {
    const list = listRef.current;
    if (!list || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver(
      (entries) => {
        setOnScreen(entries.some((e) => e.isIntersecting));
      },
      { threshold: 0.3 },
    );
    observer.observe(list);
    return () => {
      observer.disconnect();
    };
  }, [listRef]);
  useEffect(() => {
    const update = () => {
      setPageVisible(document.visibilityState === 'visible');
    };
    document.addEventListener('visibilitychange', update);
    return () => {
      document.removeEventListener('visibilitychange', update);
    };
  }, []);
  useEffect(() => {
    if (!joined) return;
    const target = markReadTarget(messages, unreadCount, lastMarkedRef.current, onScreen && pageVisible && atBottom);
    if (!target) return;
    lastMarkedRef.current = target;
    push('chat:mark_read', { last_read_id: target })
      .then((reply) => {
        onRead(reply.unread_count);
      })
      .catch(() => {
        // Try again with the next chance (a new message or scroll).
        lastMarkedRef.current = null;
      });
  }, [messages, unreadCount, onScreen, pageVisible, atBottom, joined, push, onRead]);
}

/** Within this many pixels of the bottom, the list follows new messages. */
const STICKY_PX = 48;

/**
 * Follows new messages when the reader is at the bottom or wrote the message; keeps the reader's
 * place when an older page is put above (call `beforePrepend` before it is).
 */
export function useChatScroll(listRef: RefObject<HTMLOListElement | null>, messages: readonly ChatMessage[], selfId: number) {
  const stickRef = useRef(true);
  const heightBeforePrependRef = useRef<number | null>(null);
  const [atBottom, setAtBottom] = useState(true);

  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (heightBeforePrependRef.current !== null) {
      list.scrollTop += list.scrollHeight - heightBeforePrependRef.current;
      heightBeforePrependRef.current = null;
      return;
    }
    const last = messages[messages.length - 1];
    if (stickRef.current || last?.user_id === selfId) list.scrollTop = list.scrollHeight;
  }, [messages, selfId, listRef]);

  const onScroll = () => {
    const list = listRef.current;
    if (!list) return;
    stickRef.current = list.scrollHeight - list.scrollTop - list.clientHeight < STICKY_PX;
    setAtBottom(stickRef.current);
  };
  const beforePrepend = () => {
    heightBeforePrependRef.current = listRef.current?.scrollHeight ?? null;
  };
  return { atBottom, onScroll, beforePrepend };
}
