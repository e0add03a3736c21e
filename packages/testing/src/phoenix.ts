import { Socket, type Channel } from 'phoenix';
import WebSocket from 'ws';

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

/**
 * Joins a channel and resolves with the `phx_join` reply's response (for `project:<id>` the room
 * snapshot); rejects with the error reply's response (e.g. `{reason, code}`) — after leaving the
 * channel, so phoenix does not keep rejoining — or with an Error on timeout.
 *
 *   const channel = socket.channel('project:1');  const snapshot = await joinChannel(channel);
 *   const snapshot = await joinChannel(socket, 'project:1');   // when the channel is not needed
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export function joinChannel<T = any>(channel: Channel, timeoutMs?: number): Promise<T>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export function joinChannel<T = any>(socket: Socket, topic: string, params?: object, timeoutMs?: number): Promise<T>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export function joinChannel<T = any>(
  target: Channel | Socket,
  topicOrTimeout?: string | number,
  params: object = {},
  timeoutMs?: number,
): Promise<T> {
  if (isChannel(target)) return join<T>(target, typeof topicOrTimeout === 'number' ? topicOrTimeout : undefined);
  if (typeof topicOrTimeout !== 'string') throw new TypeError('joinChannel(socket, topic, params?, timeoutMs?) needs a topic');
  return join<T>(target.channel(topicOrTimeout, params), timeoutMs);
}

/** A joined channel and the join reply's response. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export interface OpenedChannel<T = any> {
  channel: Channel;
  response: T;
}

/** Creates and joins a channel: `joinChannel` that also hands back the channel. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export async function openChannel<T = any>(
  socket: Socket,
  topic: string,
  params: object = {},
  timeoutMs?: number,
): Promise<OpenedChannel<T>> {
  const channel = socket.channel(topic, params);
  return { channel, response: await join<T>(channel, timeoutMs) };
}

function join<T>(channel: Channel, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    channel
      .join(timeoutMs)
      .receive('ok', (response: T) => resolve(response))
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
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export interface PushResult<T = any> {
  status: PushStatus;
  response: T;
}

/** Pushes an event on a joined channel; resolves with the reply's status and response. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export function push<T = any>(channel: Channel, event: string, payload: object, timeoutMs = 15_000): Promise<PushResult<T>> {
  return new Promise((resolve) => {
    channel
      .push(event, payload, timeoutMs)
      .receive('ok', (response: T) => resolve({ status: 'ok', response }))
      .receive('error', (response: T) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: undefined as T }));
  });
}

/** The payload of the next `event` on the channel (that satisfies `predicate`, when given). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for callers that only pass the reply to toMatchObject/toEqual; a caller reading fields names T (48 spec files use these helpers)
export function nextEvent<T = any>(
  channel: Channel,
  event: string,
  predicate: (payload: T) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const ref = channel.on(event, (payload: T) => {
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

/** Records every `event` on the channel from now on, e.g. to assert that something did NOT arrive. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unnecessary-type-parameters -- T names the payload type the caller reads (see joinChannel's default)
export function recordEvents<T = any>(channel: Channel, event: string): { readonly events: T[]; stop(): void } {
  const events: T[] = [];
  const ref = channel.on(event, (payload: T) => {
    events.push(payload);
  });
  return { events, stop: () => channel.off(event, ref) };
}

/** A Phoenix Channels v2 frame: `[join_ref, ref, topic, event, payload]`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a frame's payload is whatever the server sent; protocol specs cast it where they read a field
export type Frame = [joinRef: string | null, ref: string | null, topic: string, event: string, payload: any];

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
  const received: Frame[] = [];
  const consumed = new Set<number>();
  const waiters = new Set<() => void>();
  let closedInfo: { code: number; reason: string } | undefined;
  let lastError: Error | undefined;
  // Always listened to: an 'error' without a listener (say the gateway is killed) would throw.
  ws.on('error', (err) => {
    lastError = err;
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => {
      closedInfo = { code, reason: reason.toString('utf8') };
      resolve(closedInfo);
      for (const w of waiters) w();
    });
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    try {
      // A text message arrives as one Buffer (ws's default binaryType).
      const frame = JSON.parse((data as Buffer).toString()) as Frame;
      if (Array.isArray(frame)) received.push(frame);
    } catch {
      // not a JSON frame; `frames` holds only what parsed
    }
    for (const w of waiters) w();
  });

  const socket: RawSocket = {
    ws,
    frames: received,
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (text) => ws.send(text),
    sendBinary: (data) => ws.send(data, { binary: true }),
    next(predicate = () => true, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const scan = (): boolean => {
          for (let i = 0; i < received.length; i++) {
            const frame = received[i];
            if (frame === undefined || consumed.has(i)) continue;
            if (predicate(frame)) {
              consumed.add(i);
              resolve(frame);
              return true;
            }
          }
          return false;
        };
        if (scan()) return;
        const waiter = () => {
          if (scan()) {
            done();
            return;
          }
          if (closedInfo) {
            done();
            reject(new Error(`socket closed (${closedInfo.code} ${closedInfo.reason}) before a matching frame arrived`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching frame within ${timeoutMs} ms; received: ${JSON.stringify(received.slice(-10))}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        waiters.add(waiter);
        if (closedInfo) waiter();
      });
    },
    async close(code) {
      if (ws.readyState !== WebSocket.CLOSED) ws.close(code);
      await closed;
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket to ${url.origin}${url.pathname} did not open within ${opts.timeoutMs ?? 5_000} ms`));
    }, opts.timeoutMs ?? 5_000);
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
      reject(lastError ?? new Error(`WebSocket to ${url.origin}${url.pathname} closed before it opened`));
    });
  });
}

function describeSocketError(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error && typeof error.message === 'string' && error.message) return error.message;
  if (error instanceof Error) return error.message;
  return 'connection error';
}
