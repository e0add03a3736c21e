import { Socket, type Channel } from 'phoenix';
import WebSocket from 'ws';
import type { ErrorCode, ProjectClientEvent, RoomSnapshot, ServerEvent, ServerPayload } from '@siteflow/contracts';
import type { PushPayload, PushReply } from '@siteflow/testkit';

/** What a push's payload and `ok` reply are, from its event name: for helpers that wrap {@link push}. */
export type { PushPayload, PushReply };

/**
 * Clients for the gateway's Phoenix Channels endpoint: the stock `phoenix` client (what the web
 * app uses) with small promise helpers, and a raw-frame client for protocol tests.
 */

export interface ConnectClientOptions {
  /** How long the socket gets to open. Default 5 s. */
  timeoutMs?: number;
  /** Params besides the token. */
  params?: Record<string, unknown>;
  /** Default: quick retries (50 ms … 250 ms), so reconnect tests stay short. */
  reconnectAfterMs?: (tries: number) => number;
  /** Default: quick rejoins (100 ms … 1 s). */
  rejoinAfterMs?: (tries: number) => number;
  heartbeatIntervalMs?: number;
  /** Phoenix's logger, e.g. `(kind, msg, data) => console.log(kind, msg, data)`. */
  logger?: (kind: string, message: string, data: unknown) => void;
}

/**
 * A stock `phoenix` Socket connected to `socketUrl` (`ws://…/socket`) with `params: {token}`.
 * Resolves once open; rejects (and gives up reconnecting) when the socket errors before that.
 */
export function connectClient(socketUrl: string, token: string, opts: ConnectClientOptions = {}): Promise<Socket> {
  const socket = new Socket(socketUrl, {
    // Node 20 has no global WebSocket.
    transport: WebSocket as unknown as new (endpoint: string) => object,
    params: { ...opts.params, token },
    reconnectAfterMs: opts.reconnectAfterMs ?? ((tries) => [50, 100, 150, 200][tries - 1] ?? 250),
    rejoinAfterMs: opts.rejoinAfterMs ?? ((tries) => [100, 200, 500][tries - 1] ?? 1_000),
    ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  return new Promise((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const refs: string[] = [];
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      socket.off(refs);
      fn();
    };
    const timer = setTimeout(
      () =>
        settle(() => {
          socket.disconnect();
          reject(new Error(`socket to ${socketUrl} did not open within ${timeoutMs} ms`));
        }),
      timeoutMs,
    );
    refs.push(socket.onOpen(() => settle(() => resolve(socket))));
    refs.push(
      socket.onError((error: unknown) =>
        settle(() => {
          socket.disconnect();
          reject(new Error(`socket to ${socketUrl} failed before it opened: ${describeSocketError(error)}`));
        }),
      ),
    );
    socket.connect();
  });
}

/** The `phx_join` reply on `topic`: the whole room on `project:<id>`, `{}` on `user:<id>`. */
export type JoinReply<Topic extends string = string> = Topic extends `project:${string}`
  ? RoomSnapshot
  : Topic extends `user:${string}`
    ? Record<string, never>
    : RoomSnapshot | Record<string, never>;

/**
 * Joins a channel and resolves with the `phx_join` reply's response (for `project:<id>` the room
 * snapshot); rejects with the error reply's response (e.g. `{reason, code}`) — after leaving the
 * channel, so phoenix does not keep rejoining — or with an Error on timeout.
 *
 *   const snapshot = await joinChannel(socket, 'project:1');   // a RoomSnapshot, from the topic
 *   const channel = socket.channel(topic);  const snapshot = await joinChannel<RoomSnapshot>(channel);
 *
 * A channel does not carry its topic in its type: the reply is either join reply unless the caller
 * names the one its topic gets.
 */
export function joinChannel<R extends JoinReply = JoinReply>(channel: Channel, timeoutMs?: number): Promise<R>;
export function joinChannel<Topic extends string>(
  socket: Socket,
  topic: Topic,
  params?: object,
  timeoutMs?: number,
): Promise<JoinReply<Topic>>;
export function joinChannel(
  target: Channel | Socket,
  topicOrTimeout?: string | number,
  params: object = {},
  timeoutMs?: number,
): Promise<JoinReply> {
  if (isChannel(target)) return join(target, typeof topicOrTimeout === 'number' ? topicOrTimeout : undefined);
  if (typeof topicOrTimeout !== 'string') throw new TypeError('joinChannel(socket, topic, params?, timeoutMs?) needs a topic');
  return join(target.channel(topicOrTimeout, params), timeoutMs);
}

/** A joined channel and the join reply's response. */
export interface OpenedChannel<R extends JoinReply = JoinReply> {
  channel: Channel;
  response: R;
}

/** Creates and joins a channel: `joinChannel` that also hands back the channel. */
export async function openChannel<Topic extends string>(
  socket: Socket,
  topic: Topic,
  params: object = {},
  timeoutMs?: number,
): Promise<OpenedChannel<JoinReply<Topic>>> {
  const channel = socket.channel(topic, params);
  return { channel, response: (await join(channel, timeoutMs)) as JoinReply<Topic> };
}

/** The join, its reply as the server sent it (JSON: the reply of a `project:` or `user:` topic). */
function join(channel: Channel, timeoutMs = 10_000): Promise<JoinReply> {
  return new Promise((resolve, reject) => {
    channel
      .join(timeoutMs)
      .receive('ok', (response: JoinReply) => resolve(response))
      .receive('error', (response: unknown) => {
        channel.leave();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- documented contract: rejects with the server's error response ({reason, code}), which tests assert on
        reject(response);
      })
      .receive('timeout', () => {
        channel.leave();
        reject(new Error(`join of ${channel.topic} timed out after ${timeoutMs} ms`));
      });
  });
}

function isChannel(target: Channel | Socket): target is Channel {
  return typeof (target as Channel).join === 'function' && typeof (target as Channel).topic === 'string';
}

export type PushStatus = 'ok' | 'error' | 'timeout';

/** The `error` reply of a push: Phoenix's `reason` plus the contracts' `code` (docs/protocol.md, "Error codes"). */
export interface PushError {
  reason: string;
  code: ErrorCode;
  /** `rate_limited`, and an overloaded service's `unavailable`, say when to try again. */
  details?: { retry_after_ms?: number; [detail: string]: unknown };
}

/** How a push was answered: `ok` with its reply, `error` with a code, or not at all. */
export type PushResult<R = unknown> =
  { status: 'ok'; response: R } | { status: 'error'; response: PushError } | { status: 'timeout'; response: undefined };

/**
 * Pushes an event on a joined channel; resolves with the reply's status and response. The payload
 * and the `ok` reply are typed from the event (`@siteflow/contracts`, as `@siteflow/testkit` reads
 * them); an event or payload the contracts refuse (what protocol tests send) gets an `unknown` reply.
 *
 *   const sent = await push(channel, 'chat:message', { text: 'hi' });
 *   if (sent.status === 'ok') sent.response.id;   // a ChatMessage
 */
export function push<E extends ProjectClientEvent>(
  channel: Channel,
  event: E,
  payload: PushPayload<E>,
  timeoutMs?: number,
): Promise<PushResult<PushReply<E>>>;
export function push(channel: Channel, event: string, payload: object, timeoutMs?: number): Promise<PushResult>;
export function push(channel: Channel, event: string, payload: object, timeoutMs = 15_000): Promise<PushResult> {
  return new Promise((resolve) => {
    channel
      .push(event, payload, timeoutMs)
      .receive('ok', (response: unknown) => resolve({ status: 'ok', response }))
      .receive('error', (response: PushError) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: undefined }));
  });
}

/** Narrows a push result to its `ok` reply; throws (failing the test) with what came instead. */
export function assertOk<R>(result: PushResult<R>): asserts result is { status: 'ok'; response: R } {
  if (result.status !== 'ok') throw new Error(`expected an ok reply, got ${result.status}: ${JSON.stringify(result.response)}`);
}

/** The payload of a server push: typed from the contracts for the events they describe. */
export type EventPayload<E extends string> = E extends ServerEvent ? ServerPayload<E> : unknown;

/**
 * The payload of the next `event` on the channel (that satisfies `predicate`, when given), typed
 * from the event name: `nextEvent(channel, 'chat:new_message', (m) => m.text === 'hi')`.
 */
export function nextEvent<E extends string>(
  channel: Channel,
  event: E,
  predicate?: (payload: EventPayload<E>) => boolean,
  timeoutMs?: number,
): Promise<EventPayload<E>>;
export function nextEvent(
  channel: Channel,
  event: string,
  predicate: (payload: unknown) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ref = channel.on(event, (payload: unknown) => {
      let matches: boolean;
      try {
        matches = predicate(payload);
      } catch (err) {
        finish();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on exactly what the predicate threw (usually an assertion error)
        reject(err);
        return;
      }
      if (!matches) return;
      finish();
      resolve(payload);
    });
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`no ${event} on ${channel.topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      channel.off(event, ref);
    };
  });
}

/** What {@link recordEvents} hands back: every payload so far, in order. */
export interface RecordedEvents<P> {
  readonly events: P[];
  stop(): void;
}

/** Records every `event` on the channel from now on, e.g. to assert that something did NOT arrive. */
export function recordEvents<E extends string>(channel: Channel, event: E): RecordedEvents<EventPayload<E>>;
export function recordEvents(channel: Channel, event: string): RecordedEvents<unknown> {
  const events: unknown[] = [];
  const ref = channel.on(event, (payload: unknown) => {
    events.push(payload);
  });
  return { events, stop: () => channel.off(event, ref) };
}

/** A Phoenix Channels v2 frame: `[join_ref, ref, topic, event, payload]`. */
/** Its payload is whatever the server sent: protocol specs narrow it where they read a field. */
export type Frame = [joinRef: string | null, ref: string | null, topic: string, event: string, payload: unknown];

export interface RawSocket {
  readonly ws: WebSocket;
  /** Every frame received so far, in order (including those `next` returned). */
  readonly frames: readonly Frame[];
  /** Whether the connection is open. */
  readonly isOpen: boolean;
  /** Sends a frame (JSON-encoded). */
  send(frame: Frame | readonly unknown[]): void;
  /** Sends text as it is (for malformed-frame tests). */
  sendRaw(text: string): void;
  /** Sends a binary message. */
  sendBinary(data: Uint8Array): void;
  /**
   * The first received frame satisfying `predicate` that no earlier `next` returned; waits for
   * one when none has arrived yet. Default timeout 5 s.
   */
  next(predicate?: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves with the close code and reason once the connection is closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Closes the connection and waits until it is closed. */
  close(code?: number): Promise<void>;
}

/** The HTTP status with which the server refused the WebSocket upgrade. */
export class SocketRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WebSocket upgrade refused with HTTP ${status}${body ? `: ${body}` : ''}`);
    this.name = 'SocketRefused';
  }
}

export interface RawSocketOptions {
  /** Query parameters besides `vsn` and `token` (a null token is left out). */
  query?: Record<string, string>;
  vsn?: string;
  timeoutMs?: number;
  /** Extra HTTP headers of the upgrade request (e.g. `Origin`, as a browser sends it). */
  headers?: Record<string, string>;
}

/**
 * A WebSocket to `<socketUrl>/websocket?vsn=2.0.0&token=…` speaking raw frames. Rejects with
 * `SocketRefused` when the upgrade is refused (e.g. 403 for a bad token).
 */
export function rawSocket(socketUrl: string, token: string | null, opts: RawSocketOptions = {}): Promise<RawSocket> {
  const url = new URL(`${socketUrl.replace(/\/$/, '')}/websocket`);
  url.searchParams.set('vsn', opts.vsn ?? '2.0.0');
  if (token !== null) url.searchParams.set('token', token);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);

  const ws = new WebSocket(url, { perMessageDeflate: false, ...(opts.headers ? { headers: opts.headers } : {}) });
  const inbox = new Inbox(ws);
  const socket: RawSocket = {
    ws,
    frames: inbox.received,
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    closed: inbox.closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (text) => ws.send(text),
    sendBinary: (data) => ws.send(data, { binary: true }),
    next: (predicate = () => true, timeoutMs = 5_000) => inbox.next(predicate, timeoutMs),
    async close(code) {
      if (ws.readyState !== WebSocket.CLOSED) ws.close(code);
      await inbox.closed;
    },
  };
  return whenOpen(ws, `${url.origin}${url.pathname}`, opts.timeoutMs ?? 5_000, inbox, socket);
}

/** What a raw socket received: every frame in order, which of them `next` handed out, and its close. */
class Inbox {
  readonly received: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  lastError: Error | undefined;
  readonly #consumed = new Set<number>();
  readonly #waiters = new Set<() => void>();
  #closedInfo: { code: number; reason: string } | undefined;

  constructor(ws: WebSocket) {
    // Always listened to: an 'error' without a listener (say the gateway is killed) would throw.
    ws.on('error', (err) => {
      this.lastError = err;
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        const info = { code, reason: reason.toString('utf8') };
        this.#closedInfo = info;
        resolve(info);
        for (const w of this.#waiters) w();
      });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        // A text message arrives as one Buffer (ws's default binaryType).
        const frame = JSON.parse((data as Buffer).toString()) as Frame;
        if (Array.isArray(frame)) this.received.push(frame);
      } catch {
        // not a JSON frame; `frames` holds only what parsed
      }
      for (const w of this.#waiters) w();
    });
  }

  /** The first frame satisfying `predicate` that no earlier call returned; waits for one until `timeoutMs`. */
  next(predicate: (frame: Frame) => boolean, timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const scan = (): boolean => {
        const frame = this.#take(predicate);
        if (frame) resolve(frame);
        return frame !== undefined;
      };
      if (scan()) return;
      const waiter = () => {
        if (scan()) {
          done();
          return;
        }
        const closedInfo = this.#closedInfo;
        if (closedInfo) {
          done();
          reject(new Error(`socket closed (${closedInfo.code} ${closedInfo.reason}) before a matching frame arrived`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching frame within ${timeoutMs} ms; received: ${JSON.stringify(this.received.slice(-10))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      this.#waiters.add(waiter);
      if (this.#closedInfo) waiter();
    });
  }

  #take(predicate: (frame: Frame) => boolean): Frame | undefined {
    for (let i = 0; i < this.received.length; i++) {
      const frame = this.received[i];
      if (frame === undefined || this.#consumed.has(i)) continue;
      if (predicate(frame)) {
        this.#consumed.add(i);
        return frame;
      }
    }
    return undefined;
  }
}

/**
 * Resolves with `socket` once `ws` is open; rejects with `SocketRefused` when the upgrade is
 * refused, with the error or close that came first, or after `timeoutMs`.
 */
function whenOpen(ws: WebSocket, where: string, timeoutMs: number, inbox: Inbox, socket: RawSocket): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket to ${where} did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        ws.terminate();
        reject(new SocketRefused(res.statusCode ?? 0, body.slice(0, 500)));
      });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('close', () => {
      clearTimeout(timer);
      reject(inbox.lastError ?? new Error(`WebSocket to ${where} closed before it opened`));
    });
  });
}

function describeSocketError(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error && typeof error.message === 'string' && error.message) return error.message;
  if (error instanceof Error) return error.message;
  return 'connection error';
}
