import type { ChatMessage, RoomSnapshot } from '@siteflow/contracts';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChannelApi } from '../realtime/useChannel.js';
import { dropTypist, pruneTypists, receiveTyping, TYPING_IDLE_MS, typingRenewDue, type Typist } from './typing.js';

type Push = ChannelApi<RoomSnapshot>['push'];

/**
 * Others typing, from `chat:typing` broadcasts, each ending by itself after the TTL if no stop
 * arrives, and when a message of theirs arrives. A new channel (or user) starts with nobody.
 */
export function useTypists(on: ChannelApi<RoomSnapshot>['on'], selfId: number, newest: ChatMessage | undefined): readonly Typist[] {
  const [typists, setTypists] = useState<readonly Typist[]>([]);
  // Adjusted while rendering (not in an effect), from what the previous render saw.
  const [seen, setSeen] = useState({ on, selfId, newest });
  if (seen.on !== on || seen.selfId !== selfId || seen.newest !== newest) {
    setSeen({ on, selfId, newest });
    if (seen.on !== on || seen.selfId !== selfId) setTypists([]);
    else if (newest) setTypists((list) => dropTypist(list, newest.user_id));
  }

  useEffect(
    () => on('chat:typing', (p) => setTypists((list) => receiveTyping(pruneTypists(list, Date.now()), p, selfId, Date.now()))),
    [on, selfId],
  );
  const anyone = typists.length > 0;
  useEffect(() => {
    if (!anyone) return;
    const timer = window.setInterval(() => setTypists((list) => pruneTypists(list, Date.now())), 1_000);
    return () => {
      window.clearInterval(timer);
    };
  }, [anyone]);
  return typists;
}

/**
 * My typing state: sent on the first key, renewed while typing, ended after a pause, on send,
 * on leaving the field and when the composer goes away. Best effort: a lost signal ends by itself
 * on the other side.
 */
export function useOwnTyping(push: Push, joined: boolean) {
  const sentAtRef = useRef<number | null>(null);
  const idleRef = useRef<number | null>(null);
  const stopTyping = useCallback(() => {
    if (idleRef.current !== null) window.clearTimeout(idleRef.current);
    idleRef.current = null;
    if (sentAtRef.current === null) return;
    sentAtRef.current = null;
    push('chat:stop_typing', {}).catch(() => undefined);
  }, [push]);
  const noteTyping = () => {
    if (!joined) return;
    const now = Date.now();
    if (typingRenewDue(sentAtRef.current, now)) {
      sentAtRef.current = now;
      push('chat:typing', {}).catch(() => undefined);
    }
    if (idleRef.current !== null) window.clearTimeout(idleRef.current);
    idleRef.current = window.setTimeout(stopTyping, TYPING_IDLE_MS);
  };
  useEffect(
    () => () => {
      stopTyping();
    },
    [stopTyping],
  );
  return { noteTyping, stopTyping };
}
