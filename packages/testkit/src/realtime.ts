import { Presence, Socket, type Channel } from 'phoenix';
import WebSocket from 'ws';
import type { ErrorCode, PresenceMeta, ProjectClientEvent, RoomSnapshot, ServerEvent, ServerPayload } from '@siteflow/contracts';
import type { PushOutcome, PushPayload, PushReply } from './replies.js';

export interface RealtimeOptions {
  /** How long the socket gets to open, a join and a push to be answered. Default 10 s. */
  timeoutMs?: number;
  /** How many frames (both ways) failure messages show. Default 25. */
  framesShown?: number;
  /** Phoenix's reconnect backoff. Default: quick (50 ms … 250 ms), so fault tests stay short. */
  reconnectAfterMs?: (tries: number) => number;
  /** Phoenix's rejoin backoff. Default: quick (100 ms … 1 s). */
  rejoinAfterMs?: (tries: number) => number;
}

/** One frame as the client saw it. */
export interface SeenFrame {
  /** Milliseconds since the client was made. */
  at: number;
  direction: 'in' | 'out' | 'note';
  topic: string;
  event: string;
  ref: string | null;
  payload: unknown;
}

/** A join that failed or a push answered with an error: the code from the contracts' closed set. */
export class RealtimeError extends Error {
  constructor(
    readonly code: ErrorCode | 'timeout' | 'closed',
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RealtimeError';
  }
}

/** Who is in a room now, as the phoenix `Presence` of the channel sees it. */
export interface PresenceView {
  /** One entry per user present, with one meta per connection. */
  users(): Array<{ user_id: number; username: string; metas: PresenceMeta[] }>;
  has(userId: number): boolean;
  /** Resolves once `predicate` holds for the view (checked now and after every sync). */
  until(predicate: (view: PresenceView) => boolean, timeoutMs?: number, what?: string): Promise<void>;
}

/** A joined topic. */
export interface JoinedTopic<S> {
  topic: string;
  channel: Channel;
  /** The reply of the latest (re)join: for `project:<id>`, the whole room. */
  readonly snapshot: S;
  /** How often it was joined (1, then +1 per rejoin after a reconnect). */
  readonly joins: number;
  presence: PresenceView;
  /** Resolves with the snapshot of the next rejoin (after a reconnect or a gateway restart). */
  nextRejoin(timeoutMs?: number): Promise<S>;
  leave(): Promise<void>;
}

type SnapshotOf<T extends string> = T extends `project:${string}` ? RoomSnapshot : unknown;
type EventPayload<E extends string> = E extends ServerEvent
  ? ServerPayload<E>
  : E extends 'presence_diff' | 'presence_state'
    ? Record<string, unknown>
    : unknown;

const QUICK_RECONNECT = (tries: number) => [50, 100, 150, 200][tries - 1] ?? 250;
const QUICK_REJOIN = (tries: number) => [100, 200, 500][tries - 1] ?? 1_000;

/**
 * The stock `phoenix` client (what the web app runs) with awaitable helpers. Every wait has a
 * timeout, and its error shows the last frames the client sent and received.
 */
export class RealtimeClient {
  readonly socket: Socket;
  readonly #frames: SeenFrame[] = [];
  readonly #framesShown: number;
  readonly #timeoutMs: number;
  readonly #born = Date.now();
  readonly #channels = new Map<string, Channel>();
  readonly #waiters = new Set<{ topic: string; event: string; check: (payload: unknown) => void }>();
  readonly #closeWaiters = new Set<() => void>();
  /** Presence waits of every joined topic: each re-checks its own view on any sync. */
  readonly #presenceSyncs = new Set<() => void>();
  #open = false;
  #closes = 0;

  private constructor(socketUrl: string, token: string, opts: RealtimeOptions) {
    this.#framesShown = opts.framesShown ?? 25;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.socket = new Socket(socketUrl, {
      // Node 20 has no global WebSocket.
      transport: WebSocket as unknown as new (endpoint: string) => object,
      params: { token },
      reconnectAfterMs: opts.reconnectAfterMs ?? QUICK_RECONNECT,
      rejoinAfterMs: opts.rejoinAfterMs ?? QUICK_REJOIN,
    });
    this.socket.onMessage((message: object) => {
      const m = message as { topic: string; event: string; payload: unknown; ref: string | null };
      this.#record('in', m.topic, m.event, m.ref, m.payload);
      for (const w of [...this.#waiters]) if (w.topic === m.topic && w.event === m.event) w.check(m.payload);
    });
    this.socket.onOpen(() => {
      this.#open = true;
      this.#record('note', '', 'socket open', null, null);
    });
    this.socket.onClose((event: unknown) => {
      const code = (event as { code?: number } | undefined)?.code;
      if (this.#open) this.#closes++;
      this.#open = false;
      this.#record('note', '', 'socket closed', null, { code });
      for (const resolve of [...this.#closeWaiters]) resolve();
    });
  }

  /** Opens a socket with `token`; rejects with the frames seen when it does not open in time. */
  static async connect(socketUrl: string, token: string, opts: RealtimeOptions = {}): Promise<RealtimeClient> {
    const client = new RealtimeClient(socketUrl, token, opts);
    await new Promise<void>((resolve, reject) => {
      const refs: string[] = [];
      const settle = (err?: Error) => {
        clearTimeout(timer);
        client.socket.off(refs);
        if (err) {
          client.socket.disconnect();
          reject(err);
        } else resolve();
      };
      const timer = setTimeout(
        () => settle(client.failure(`the socket to ${socketUrl} did not open within ${client.#timeoutMs} ms`)),
        client.#timeoutMs,
      );
      refs.push(client.socket.onOpen(() => settle()));
      // A refused handshake (403: bad token) errors before any open.
      refs.push(
        client.socket.onError(() =>
          settle(client.failure(`the socket to ${socketUrl} failed before it opened (refused token or gateway down)`)),
        ),
      );
      client.socket.connect();
    });
    return client;
  }

  /** Whether the socket is open now. */
  get connected(): boolean {
    return this.#open;
  }

  /** How often an open socket was closed (by the gateway's death, a restart, …). */
  get closes(): number {
    return this.#closes;
  }

  /** The last frames, oldest first. */
  frames(): SeenFrame[] {
    return [...this.#frames];
  }

  /** An Error whose message ends with the last frames seen. */
  failure(message: string, code: RealtimeError['code'] = 'timeout'): RealtimeError {
    return new RealtimeError(code, `${message}\n${this.describeFrames()}`);
  }

  describeFrames(): string {
    const shown = this.#frames.slice(-this.#framesShown);
    if (shown.length === 0) return 'No frames were sent or received.';
    const lines = shown.map((f) => {
      const arrow = f.direction === 'in' ? '<-' : f.direction === 'out' ? '->' : '--';
      const body = f.payload === null || f.payload === undefined ? '' : ` ${truncate(JSON.stringify(f.payload), 300)}`;
      return `  +${String(f.at).padStart(6)} ms ${arrow} ${f.topic} ${f.event}${f.ref ? ` (ref ${f.ref})` : ''}${body}`;
    });
    return `Last ${shown.length} frames (-> sent, <- received):\n${lines.join('\n')}`;
  }

  /**
   * Joins `topic`; for `project:<id>` the snapshot is the whole room (typed as the contracts'
   * `RoomSnapshot`). A refusal rejects with a {@link RealtimeError} carrying its code (a non-member
   * gets `unauthorized`), and the channel is left so phoenix does not keep rejoining.
   */
  async join<T extends string>(topic: T, params: Record<string, unknown> = {}): Promise<JoinedTopic<SnapshotOf<T>>> {
    if (this.#channels.has(topic)) throw new Error(`${topic} is already joined on this client`);
    const channel = this.socket.channel(topic, params);
    const presence = new Presence(channel);
    let snapshot: SnapshotOf<T> | undefined;
    let joins = 0;
    const rejoinWaiters = new Set<(s: SnapshotOf<T>) => void>();
    this.#record('out', topic, 'phx_join', null, params);
    await new Promise<void>((resolve, reject) => {
      channel
        .join(this.#timeoutMs)
        .receive('ok', (response: SnapshotOf<T>) => {
          snapshot = response;
          joins++;
          if (joins === 1) resolve();
          for (const w of [...rejoinWaiters]) w(response);
        })
        .receive('error', (response: { code?: ErrorCode; reason?: string; details?: Record<string, unknown> }) => {
          if (joins > 0) return; // a failed rejoin: phoenix tries again
          channel.leave();
          reject(
            new RealtimeError(
              response.code ?? 'internal',
              `join of ${topic} refused: ${response.code ?? '?'}: ${response.reason ?? JSON.stringify(response)}\n${this.describeFrames()}`,
              response.details,
            ),
          );
        })
        .receive('timeout', () => {
          if (joins > 0) return;
          channel.leave();
          reject(this.failure(`join of ${topic} was not answered within ${this.#timeoutMs} ms`));
        });
    });
    this.#channels.set(topic, channel);
    const view: PresenceView = {
      users: () =>
        presence.list((key: string, entry: { metas: PresenceMeta[] }) => ({
          user_id: Number(key),
          username: entry.metas[0]?.username ?? '',
          metas: entry.metas,
        })),
      has: (userId) => view.users().some((u) => u.user_id === userId),
      until: (predicate, timeoutMs = this.#timeoutMs, what = 'the presence condition') =>
        new Promise<void>((resolve, reject) => {
          if (predicate(view)) {
            resolve();
            return;
          }
          const timer = setTimeout(() => {
            this.#presenceSyncs.delete(onSync);
            reject(
              this.failure(
                `${what} did not hold on ${topic} within ${timeoutMs} ms; present: ${JSON.stringify(view.users().map((u) => `${u.username} (${u.user_id}) x${u.metas.length}`))}`,
              ),
            );
          }, timeoutMs);
          const onSync = () => {
            if (!predicate(view)) return;
            clearTimeout(timer);
            this.#presenceSyncs.delete(onSync);
            resolve();
          };
          this.#presenceSyncs.add(onSync);
        }),
    };
    presence.onSync(() => {
      for (const s of [...this.#presenceSyncs]) s();
    });
    return {
      topic,
      channel,
      get snapshot() {
        return snapshot as SnapshotOf<T>;
      },
      get joins() {
        return joins;
      },
      presence: view,
      nextRejoin: (timeoutMs = this.#timeoutMs) =>
        new Promise<SnapshotOf<T>>((resolve, reject) => {
          const timer = setTimeout(() => {
            rejoinWaiters.delete(done);
            reject(this.failure(`${topic} was not joined again within ${timeoutMs} ms`));
          }, timeoutMs);
          const done = (s: SnapshotOf<T>) => {
            clearTimeout(timer);
            rejoinWaiters.delete(done);
            resolve(s);
          };
          rejoinWaiters.add(done);
        }),
      leave: () =>
        new Promise<void>((resolve) => {
          this.#channels.delete(topic);
          channel
            .leave(this.#timeoutMs)
            .receive('ok', () => resolve())
            .receive('timeout', () => resolve());
        }),
    };
  }

  /**
   * Pushes `event` on a joined topic and resolves with how it was answered: `ok` with the reply
   * (typed for the events the contracts describe) or `error` with its code. Only a push not
   * answered at all rejects. The payload may carry `idempotency_key` (a retry with the same key
   * gets the first outcome).
   */
  push<E extends ProjectClientEvent>(
    topic: string,
    event: E,
    payload: PushPayload<E>,
    timeoutMs = this.#timeoutMs,
  ): Promise<PushOutcome<E>> {
    const channel = this.#channels.get(topic);
    if (!channel) return Promise.reject(new Error(`push ${event}: ${topic} is not joined on this client (join it first)`));
    this.#record('out', topic, event, null, payload);
    return new Promise((resolve, reject) => {
      channel
        .push(event, payload, timeoutMs)
        .receive('ok', (response: PushReply<E>) => resolve({ status: 'ok', response }))
        .receive('error', (response: { code: ErrorCode; reason: string; details?: Record<string, unknown> }) =>
          resolve({
            status: 'error',
            code: response.code,
            reason: response.reason,
            ...(response.details ? { details: response.details } : {}),
          }),
        )
        .receive('timeout', () => reject(this.failure(`push ${event} on ${topic} was not answered within ${timeoutMs} ms`)));
    });
  }

  /** {@link push} that resolves with the `ok` reply, or rejects with a {@link RealtimeError} of the error's code. */
  async pushOk<E extends ProjectClientEvent>(topic: string, event: E, payload: PushPayload<E>, timeoutMs?: number): Promise<PushReply<E>> {
    const outcome = await this.push(topic, event, payload, timeoutMs);
    if (outcome.status === 'ok') return outcome.response;
    throw new RealtimeError(
      outcome.code,
      `push ${event} on ${topic} was refused: ${outcome.code}: ${outcome.reason}\n${this.describeFrames()}`,
      outcome.details,
    );
  }

  /**
   * The next `event` on `topic` (received after this call) whose payload satisfies `predicate`.
   * Call it before the action that causes the event, then await it:
   *   const seen = bob.nextEvent(room.topic, 'chat:new_message', (m) => m.text === 'hi');
   *   await alice.pushOk(room.topic, 'chat:message', { text: 'hi' });
   *   await seen;
   */
  nextEvent<E extends string>(
    topic: string,
    event: E,
    predicate: (payload: EventPayload<E>) => boolean = () => true,
    timeoutMs = this.#timeoutMs,
  ): Promise<EventPayload<E>> {
    return new Promise((resolve, reject) => {
      const waiter = {
        topic,
        event,
        check: (payload: unknown) => {
          let matched: boolean;
          try {
            matched = predicate(payload as EventPayload<E>);
          } catch {
            matched = false;
          }
          if (!matched) return;
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(payload as EventPayload<E>);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(this.failure(`no ${event} on ${topic} matching the predicate within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Resolves when the open socket is closed next (the gateway died, restarted or closed it). */
  nextClose(timeoutMs = this.#timeoutMs): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#closeWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#closeWaiters.delete(done);
        reject(this.failure(`the socket was not closed within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#closeWaiters.add(done);
    });
  }

  /** Leaves every topic and closes the socket (phoenix does not reconnect after this). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#channels.clear();
      this.socket.disconnect(() => resolve(), 1000, 'test done');
    });
  }

  #record(direction: SeenFrame['direction'], topic: string, event: string, ref: string | null, payload: unknown): void {
    this.#frames.push({ at: Date.now() - this.#born, direction, topic, event, ref, payload });
    if (this.#frames.length > 200) this.#frames.splice(0, this.#frames.length - 200);
  }
}

function truncate(text: string | undefined, max: number): string {
  if (text === undefined) return '';
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
