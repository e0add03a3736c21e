import type {
  ChatMessage,
  ChecklistReply,
  ClientPayload,
  DocumentVersion,
  DocumentWithContent,
  HeartbeatReply,
  HistoryOfDocumentReply,
  HistoryReply,
  MarkReadReply,
  ProjectClientEvent,
  SaveReply,
  ServerEvent,
  ServerPayload,
  StartEditingReply,
  StopEditingReply,
  ToggleReply,
} from '@siteflow/contracts';
import type { Channel } from 'phoenix';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ChannelError, isTerminalJoinError, notConnectedError, timeoutError, toChannelError } from './channelError.js';
import { useSocket } from './SocketProvider.js';

/** Reply payloads of the pushes whose replies the app reads; the rest resolve to `unknown`. */
interface KnownReplies {
  'chat:message': ChatMessage;
  'chat:history': HistoryReply;
  'chat:mark_read': MarkReadReply;
  'document:get': DocumentWithContent;
  'document:start_editing': StartEditingReply;
  'document:stop_editing': StopEditingReply;
  'document:heartbeat': HeartbeatReply;
  'document:save': SaveReply;
  'document:auto_save': SaveReply;
  'document:restore': SaveReply;
  'document:history': HistoryOfDocumentReply;
  'document:get_version': DocumentVersion;
  'checklist:toggle': ToggleReply;
  'checklist:add_item': ChecklistReply;
  'checklist:edit_item': ChecklistReply;
  'checklist:reorder': ChecklistReply;
  'checklist:remove_item': ChecklistReply;
}
export type PushReply<E extends ProjectClientEvent> = E extends keyof KnownReplies ? KnownReplies[E] : unknown;

export type ServerEventHandlers = { [E in ServerEvent]?: (payload: ServerPayload<E>) => void };

export interface ChannelHandlers<Reply> {
  /** Every successful join and rejoin, with its reply (for `project:<id>`, the room snapshot). */
  onJoin?: (reply: Reply) => void;
  /** A refused or unanswered join. Transient errors are retried by the client; terminal ones are not. */
  onJoinError?: (error: ChannelError) => void;
  /**
   * Server events, bound before the join is sent so none can slip past. Which events are bound
   * is read once per channel; the callbacks themselves are always the latest ones passed.
   */
  events?: ServerEventHandlers;
}

export interface ChannelApi<Reply> {
  channel: Channel | null;
  joined: boolean;
  /** The latest join reply: after a reconnect, the fresh one. */
  reply: Reply | null;
  /** Why the last join failed; cleared by the next successful join. */
  joinError: ChannelError | null;
  /** Pushes an event; rejects with a ChannelError (`unavailable` when not joined or unanswered). */
  /** `idempotencyKey`: the same key on a retry gets the first outcome (see RetryKeys). */
  push: <E extends ProjectClientEvent>(event: E, payload: ClientPayload<E>, opts?: { idempotencyKey?: string }) => Promise<PushReply<E>>;
  /** Subscribes to a server event of this channel; returns the unsubscribe function. */
  on: <E extends ServerEvent>(event: E, callback: (payload: ServerPayload<E>) => void) => () => void;
}

/**
 * Joins `topic` on the app's socket for as long as the calling component is mounted.
 *
 * The channel is created in one effect and joined in a second one that runs on the next commit,
 * the same commit in which every `[channel]`-keyed effect (`usePresence`, `on` subscriptions in
 * child panels) runs. Effects of one commit run back to back, so all of them are bound before
 * any reply or `presence_state` can be delivered.
 */
export function useChannel<Reply = unknown>(
  topic: string,
  params: Record<string, unknown> = {},
  handlers: ChannelHandlers<Reply> = {},
): ChannelApi<Reply> {
  const { socket } = useSocket();
  const [channel, setChannel] = useState<Channel | null>(null);
  const [joined, setJoined] = useState(false);
  const [reply, setReply] = useState<Reply | null>(null);
  const [joinError, setJoinError] = useState<ChannelError | null>(null);

  // The latest handlers and params, updated before any passive effect of the same commit reads them.
  const handlersRef = useRef(handlers);
  const paramsRef = useRef(params);
  useLayoutEffect(() => {
    handlersRef.current = handlers;
    paramsRef.current = params;
  });
  const paramsKey = JSON.stringify(params);

  useEffect(() => {
    if (!socket) return;
    const ch = socket.channel(topic, paramsRef.current);
    setChannel(ch);
    setJoined(false);
    setReply(null);
    setJoinError(null);
    return () => {
      // A channel that never sent its join has nothing to leave on the server.
      if (ch.state === 'closed') socket.remove(ch);
      else ch.leave();
      setChannel(null);
      setJoined(false);
    };
  }, [socket, topic, paramsKey]);

  useEffect(() => {
    if (!channel || channel.state !== 'closed') return;
    const ch = channel;
    const bound = Object.keys(handlersRef.current.events ?? {}).map((event) => ({
      event,
      ref: ch.on(event, (payload: unknown) => {
        const handler = handlersRef.current.events?.[event as ServerEvent] as ((p: unknown) => void) | undefined;
        handler?.(payload);
      }),
    }));
    const lifecycle = [
      { event: 'phx_error', ref: ch.onError(() => setJoined(false)) },
      { event: 'phx_close', ref: ch.onClose(() => setJoined(false)) },
    ];

    const fail = (error: ChannelError) => {
      setJoined(false);
      setJoinError(error);
      // Phoenix retries a failed join forever; a refusal that cannot change is final.
      if (isTerminalJoinError(error)) ch.leave();
      handlersRef.current.onJoinError?.(error);
    };
    ch.join()
      .receive('ok', (response: unknown) => {
        setJoinError(null);
        setReply(response as Reply);
        setJoined(true);
        handlersRef.current.onJoin?.(response as Reply);
      })
      .receive('error', (response: unknown) => fail(toChannelError(response)))
      .receive('timeout', () => fail(timeoutError()));

    return () => {
      for (const { event, ref } of [...bound, ...lifecycle]) ch.off(event, ref);
    };
  }, [channel]);

  const push = useCallback(
    <E extends ProjectClientEvent>(event: E, payload: ClientPayload<E>, opts?: { idempotencyKey?: string }) =>
      new Promise<PushReply<E>>((resolve, reject) => {
        // Phoenix would buffer a push until the rejoin; a person pressing Send wants to know now.
        if (!channel || channel.state !== 'joined') {
          reject(notConnectedError());
          return;
        }
        // A keyed push that is retried gets the first outcome (docs/protocol.md, "Retries").
        const body = opts?.idempotencyKey ? { ...(payload as object), idempotency_key: opts.idempotencyKey } : (payload as object);
        channel
          .push(event, body)
          .receive('ok', (response: unknown) => resolve(response as PushReply<E>))
          .receive('error', (response: unknown) => reject(toChannelError(response)))
          .receive('timeout', () => reject(timeoutError()));
      }),
    [channel],
  );

  const on = useCallback(
    <E extends ServerEvent>(event: E, callback: (payload: ServerPayload<E>) => void) => {
      if (!channel) return () => {};
      const ref = channel.on(event, callback as (payload: unknown) => void);
      return () => channel.off(event, ref);
    },
    [channel],
  );

  return { channel, joined, reply, joinError, push, on };
}
