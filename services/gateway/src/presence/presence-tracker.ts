import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  PRESENCE_DEFAULTS,
  presenceSubjects,
  RefreshReply,
  TrackReply,
  type TrackPayload,
  type CommandContext,
  type ErrorBody,
  type PresenceRefresh,
  type PresenceState,
  type TrackedConnection,
} from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';

export const GatewayPresenceConfig = z.object({
  /** How often this gateway refreshes all its connections, in one message. Well inside the TTL. */
  PRESENCE_REFRESH_MS: z.coerce.number().int().min(100).max(60_000).default(PRESENCE_DEFAULTS.refreshMs),
});

export interface PresenceTrackerOptions {
  gatewayId: string;
  refreshMs: number;
  timeoutMs: number;
}

/**
 * The gateway side of presence: tracks a connection after a successful `project:` join, untracks
 * it on leave or close, and refreshes ALL of this gateway's live connections in one NATS message
 * per interval (O(1) messages per gateway, whatever the number of sockets).
 */
export class PresenceTracker {
  /** key → the connection, from track until untrack: what the next refresh carries. */
  private readonly live = new Map<string, CommandContext>();
  /** key → the tail of its requests: a connection's track and untrack reach presence in order. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** key → when presence last confirmed holding it; a refresh sent later may ask to restore it. */
  private readonly confirmedAt = new Map<string, number>();
  private readonly encoder = new TextEncoder();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly nats: NatsConnection,
    private readonly logger: Logger,
    private readonly opts: PresenceTrackerOptions,
  ) {}

  get size(): number {
    return this.live.size;
  }

  start(): void {
    this.timer = setInterval(() => this.refresh(), this.opts.refreshMs);
    this.timer.unref();
  }

  /** Announces the connection in its project's room; the reply is its meta for `presence_state`. */
  async track(ctx: CommandContext): Promise<{ ok: true; tracked: TrackReply } | { ok: false; error: ErrorBody }> {
    const key = keyOf(ctx);
    // Live from now on, so a track whose reply is lost is still untracked (or swept) later.
    this.live.set(key, ctx);
    return this.enqueue(key, () => this.requestTrack(key, ctx, {}));
  }

  private async requestTrack(
    key: string,
    ctx: CommandContext,
    payload: TrackPayload,
  ): Promise<{ ok: true; tracked: TrackReply } | { ok: false; error: ErrorBody }> {
    const reply = await requestService(this.nats, presenceSubjects.track, { ctx, payload }, { timeoutMs: this.opts.timeoutMs });
    if (!reply.ok) return reply;
    const parsed = TrackReply.safeParse(reply.data);
    if (!parsed.success) return { ok: false, error: { code: 'internal', message: 'presence track reply is malformed' } };
    if (this.live.get(key) === ctx) this.confirmedAt.set(key, Date.now());
    return { ok: true, tracked: parsed.data };
  }

  /** The connection left the room (phx_leave, rejoin, socket closed); a no-op when not tracked. */
  untrack(ctx: CommandContext): void {
    const key = keyOf(ctx);
    this.confirmedAt.delete(key);
    if (!this.live.delete(key) || this.closed) return;
    void this.enqueue(key, () => this.requestUntrack(key, ctx));
  }

  private async requestUntrack(key: string, ctx: CommandContext): Promise<void> {
    const reply = await requestService(this.nats, presenceSubjects.untrack, { ctx, payload: {} }, { timeoutMs: this.opts.timeoutMs });
    // Not fatal: the key is no longer refreshed, so the sweep removes it within the TTL.
    if (!reply.ok) this.logger.warn({ key, error: reply.error }, 'presence untrack failed; the sweep will remove it');
  }

  /**
   * One request for every live connection of this gateway. The reply names connections presence
   * lost (swept while this gateway stalled past the TTL): they are tracked again, so a live
   * socket never stays invisible.
   */
  refresh(): void {
    if (this.closed || this.live.size === 0) return;
    const connections: TrackedConnection[] = [];
    for (const c of this.live.values()) connections.push({ project_id: c.project_id, user_id: c.user_id, connection_id: c.connection_id });
    const batch: PresenceRefresh = { gateway_id: this.opts.gatewayId, connections };
    const sentAt = Date.now();
    this.nats.request(presenceSubjects.refresh, this.encoder.encode(JSON.stringify(batch)), { timeout: this.opts.refreshMs }).then(
      (msg) => {
        const reply = RefreshReply.safeParse(msg.json());
        if (!reply.success) return;
        for (const c of reply.data.missing) this.restore(keyOf(c), sentAt);
      },
      // No presence instance answered this round: the keys age, the next round tries again.
      (err) => this.logger.debug({ err }, 'presence refresh unanswered'),
    );
  }

  /** Tracks a connection presence lost, unless it changed since the refresh that found it missing. */
  private restore(key: string, sentAt: number): void {
    const ctx = this.live.get(key);
    const confirmed = this.confirmedAt.get(key);
    if (!ctx || confirmed === undefined || confirmed > sentAt || this.closed) return;
    this.confirmedAt.delete(key); // one restore at a time
    this.logger.info({ key }, 'presence lost a live connection; tracking it again');
    void this.enqueue(key, async () => {
      if (this.live.get(key) !== ctx) return;
      const reply = await this.requestTrack(key, ctx, { retrack: true });
      if (reply.ok) return;
      this.logger.warn({ key, error: reply.error }, 'presence restore failed; the next refresh retries');
      if (this.live.get(key) === ctx) this.confirmedAt.set(key, 0);
    });
  }

  /** Gateway shutdown: untracks every live connection and waits (bounded) before NATS is drained. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.closed = true;
    for (const [key, ctx] of this.live) void this.enqueue(key, () => this.requestUntrack(key, ctx));
    this.live.clear();
    const pending = Promise.allSettled([...this.chains.values()]);
    await Promise.race([pending, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  private enqueue<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }
}

function keyOf(ctx: Pick<CommandContext, 'project_id' | 'connection_id'>): string {
  return `${ctx.project_id}/${ctx.connection_id}`;
}

/**
 * `presence_state` with the joining connection's own meta in it (the snapshot predates the track,
 * and the join diff skips the joiner), without the meta it replaced on a rejoin.
 */
export function withOwnMeta(state: PresenceState, tracked: TrackReply): PresenceState {
  const { meta, replaced_phx_ref } = tracked;
  const key = String(meta.user_id);
  const metas = (state[key]?.metas ?? []).filter((m) => m.phx_ref !== meta.phx_ref && m.phx_ref !== replaced_phx_ref);
  return { ...state, [key]: { metas: [...metas, meta] } };
}
