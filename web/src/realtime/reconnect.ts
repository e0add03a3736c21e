import { Serializer } from 'phoenix';

declare module 'phoenix' {
  /** Phoenix's own frame serializer (exported by the package, missing from its types). */
  export const Serializer: { decode(raw: unknown, callback: (message: unknown) => void): void };
}

/** A frame as Phoenix's decoder hands it to the socket. */
interface DecodedFrame {
  join_ref: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

/** How long a socket waits before reconnect number `tries` (1, 2, …): at least MIN, at most the cap. */
export interface ReconnectPolicyOptions {
  /** The first window; each try doubles it. */
  baseMs?: number;
  capMs?: number;
  /** Never sooner than this (a closed socket that reconnects at once only finds the same fault). */
  minMs?: number;
  random?: () => number;
  now?: () => number;
}

/**
 * The web client's reconnect and rejoin timing. When a gateway dies every one of its sockets comes
 * back at the same moment; Phoenix's stock steps (10, 50, 100 ms, …) would bring them all to the
 * next gateway together. Here each wait is drawn at random from a window that doubles with each
 * try ("full jitter"), and a join the gateway refused for load (`rate_limited` with
 * `details.retry_after_ms`) is not tried again before that time.
 */
export class ReconnectPolicy {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly minMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /** No rejoin before this time (the latest retry-after a gateway asked for). */
  private notBefore = 0;

  constructor(opts: ReconnectPolicyOptions = {}) {
    this.baseMs = opts.baseMs ?? 500;
    this.capMs = opts.capMs ?? 10_000;
    this.minMs = opts.minMs ?? 100;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
  }

  /** Phoenix's `reconnectAfterMs`: a random wait in [min, base × 2^(tries-1)], capped. */
  readonly reconnectAfterMs = (tries: number): number => {
    const window = Math.min(this.capMs, this.baseMs * 2 ** Math.max(0, Math.min(tries - 1, 20)));
    return Math.round(this.minMs + this.random() * Math.max(0, window - this.minMs));
  };

  /** Phoenix's `rejoinAfterMs`: the same jitter, but never before a retry-after the gateway asked for. */
  readonly rejoinAfterMs = (tries: number): number => Math.max(this.reconnectAfterMs(tries), this.notBefore - this.now());

  /**
   * Phoenix's `decode`, wrapping its own: a join refused with a retry-after is noted before the
   * channel sees the refusal (the channel schedules its rejoin as it reads it).
   */
  readonly decode = (raw: unknown, callback: (message: unknown) => void): void => {
    Serializer.decode(raw, (message) => {
      this.note(message as DecodedFrame);
      callback(message);
    });
  };

  /** Reads one frame for a retry-after (exported for tests through `decode`). */
  private note(frame: DecodedFrame): void {
    if (frame.event !== 'phx_reply' || typeof frame.payload !== 'object' || frame.payload === null) return;
    const { status, response } = frame.payload as { status?: unknown; response?: unknown };
    if (status !== 'error' || typeof response !== 'object' || response === null) return;
    const details = (response as { details?: unknown }).details;
    const retryAfter =
      typeof details === 'object' && details !== null ? (details as { retry_after_ms?: unknown }).retry_after_ms : undefined;
    if (typeof retryAfter !== 'number' || !Number.isFinite(retryAfter) || retryAfter <= 0) return;
    // Bounded: a hostile or broken server cannot park the client for good.
    this.notBefore = Math.max(this.notBefore, this.now() + Math.min(retryAfter, 60_000));
  }
}
