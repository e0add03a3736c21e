import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  PRESENCE_DEFAULTS,
  presenceSubjects,
  RefreshReply,
  TRACK_BATCH_MAX,
  TrackManyReply,
  TrackReply,
  type ReplyEnvelope,
  type TrackPayload,
  type CommandContext,
  type ErrorBody,
  type PresenceRefresh,
  type PresenceState,
} from '@siteflow/contracts';
import { isNotRunning, requestService, SerialByKey } from '@siteflow/messaging';
import { TurnBatch } from '../rooms/turn-batch.js';

export const GatewayPresenceConfig = z.object({
  /** How often this gateway refreshes all its connections, in one message. Well inside the TTL. */
  PRESENCE_REFRESH_MS: z.coerce.number().int().min(100).max(60_000).default(PRESENCE_DEFAULTS.refreshMs),
});

export interface PresenceTrackerOptions {
  /** The gateway instance (INSTANCE_ID); a per-boot suffix is added, so a restart is a new gateway. */
  gatewayId: string;
  refreshMs: number;
  timeoutMs: number;
  /** Told of each request to presence (track, untrack, refresh): its subject, outcome and seconds (the gateway's metrics). */
  observeRequest?: (subject: string, outcome: string, seconds: number) => void;
}

/** Restores in flight at once when presence asks this gateway to track everything again. */
const RESYNC_CONCURRENCY = 32;
/**
 * Untracks in flight at once. Sockets that close together (a client network that dropped, a load
 * balancer letting go: thousands at once) would otherwise reach presence far beyond the commands
 * it runs and queues (32 and 512 by default); it refuses the rest `overloaded`, they wait for the
 * next refresh to be retried, and all at once again: ghosts for several intervals. Paced, they are
 * sent as presence answers, in order of closing; a track of the same key waits behind its untrack.
 */
const UNTRACK_CONCURRENCY = 32;
/** Refreshes in a row answered with more connections held than tracked before this gateway lists its own. */
const EXCESS_ROUNDS_BEFORE_LISTING = 2;
/** How long after its track reply a connection surely is in every presence instance's view. */
const SETTLE_MS = 1_000;

/** One `presence.track` request. */
type TrackAsk = { ctx: CommandContext; payload: TrackPayload };

const MALFORMED_TRACK_MANY: ReplyEnvelope = { ok: false, error: { code: 'internal', message: 'presence track_many reply is malformed' } };

/**
 * The gateway side of presence: tracks a connection after a successful `project:` join, untracks
 * it on leave or close, and sends this gateway's liveness in one small NATS message per interval:
 * its connections live as long as it does (O(1) messages and writes per gateway, whatever the
 * number of sockets). When presence had declared it dead (a stall past the TTL), it tracks its
 * connections again.
 */
export class PresenceTracker {
  /** This boot of this gateway: connections of an earlier boot (a crash) are not kept alive by it. */
  readonly gatewayId: string;
  /** key → the connection, from track until untrack: what the next refresh carries. */
  private readonly live = new Map<string, CommandContext>();
  /** Per key, its requests one at a time: a connection's track and untrack reach presence in order. */
  private readonly queue = new SerialByKey<string>();
  /** key → when presence last confirmed holding it; a refresh sent later may ask to restore it. */
  private readonly confirmedAt = new Map<string, number>();
  /** Untracks presence did not confirm: retried every interval (the gateway is alive, no sweep removes them). */
  private readonly unconfirmedUntracks = new Map<string, CommandContext>();
  /** Untracks queued or in flight: presence may still hold these keys, and they are on their way out. */
  private readonly untracking = new Set<string>();
  private resyncing = false;
  /** Untrack slots free (of UNTRACK_CONCURRENCY), and the untracks waiting for one, oldest first. */
  private untrackSlots = UNTRACK_CONCURRENCY;
  private readonly untracksWaiting: Array<() => void> = [];
  /** Shutdown's bound passed: untracks still waiting are not sent (presence evicts their keys once this gateway's liveness stops). */
  private untracksAbandoned = false;
  /** Refreshes in a row whose reply said presence holds more of our connections than we have. */
  private excessRounds = 0;
  private readonly encoder = new TextEncoder();
  /** The tracks of one project that are ready in the same turn (a room's joins admitted together) go as one request. */
  private readonly tracks = new TurnBatch<TrackAsk, ReplyEnvelope>(TRACK_BATCH_MAX, (_project, asks) => this.sendTracks(asks));
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly nats: NatsConnection,
    private readonly logger: Logger,
    private readonly opts: PresenceTrackerOptions,
  ) {
    this.gatewayId = `${opts.gatewayId.slice(0, 180)}~${randomBytes(6).toString('base64url')}`;
  }

  private observed(subject: string, outcome: string, asked: number): void {
    this.opts.observeRequest?.(subject, outcome, (performance.now() - asked) / 1000);
  }

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
    this.unconfirmedUntracks.delete(key);
    return this.queue.run(key, () => this.requestTrack(key, ctx, { gateway_id: this.gatewayId }));
  }

  private async requestTrack(
    key: string,
    ctx: CommandContext,
    payload: TrackPayload,
  ): Promise<{ ok: true; tracked: TrackReply } | { ok: false; error: ErrorBody }> {
    const reply = await this.tracks.add(ctx.project_id, { ctx, payload });
    if (!reply.ok) return reply;
    const parsed = TrackReply.safeParse(reply.data);
    if (!parsed.success) return { ok: false, error: { code: 'internal', message: 'presence track reply is malformed' } };
    if (this.live.get(key) === ctx) this.confirmedAt.set(key, Date.now());
    return { ok: true, tracked: parsed.data };
  }

  /**
   * One project's tracks of this turn: a lone one as `presence.track`, several as one
   * `presence.track_many` (each answered as `presence.track` would; a failure of the request itself
   * is every track's). No presence serving `track_many` (an older one during a rolling upgrade):
   * each asks on its own.
   */
  private async sendTracks(asks: TrackAsk[]): Promise<ReplyEnvelope[]> {
    if (asks.length === 1) return Promise.all(asks.map((a) => this.trackOne(a)));
    const asked = performance.now();
    const reply = await requestService(this.nats, presenceSubjects.trackMany, { tracks: asks }, { timeoutMs: this.opts.timeoutMs });
    this.observed(presenceSubjects.trackMany, reply.ok ? 'ok' : reply.error.code, asked);
    if (!reply.ok) return isNotRunning(reply.error) ? Promise.all(asks.map((a) => this.trackOne(a))) : asks.map(() => reply);
    const parsed = TrackManyReply.safeParse(reply.data);
    if (!parsed.success || parsed.data.replies.length !== asks.length) return asks.map(() => MALFORMED_TRACK_MANY);
    return parsed.data.replies;
  }

  private async trackOne(ask: TrackAsk): Promise<ReplyEnvelope> {
    const asked = performance.now();
    const reply = await requestService(this.nats, presenceSubjects.track, ask, { timeoutMs: this.opts.timeoutMs });
    this.observed(presenceSubjects.track, reply.ok ? 'ok' : reply.error.code, asked);
    return reply;
  }

  /** The connection left the room (phx_leave, rejoin, socket closed); a no-op when not tracked. */
  untrack(ctx: CommandContext): void {
    const key = keyOf(ctx);
    this.confirmedAt.delete(key);
    if (!this.live.delete(key) || this.closed) return;
    void this.queueUntrack(key, ctx);
  }

  /** Queues an untrack behind the key's earlier requests; the key counts as leaving until it is answered. */
  private queueUntrack(key: string, ctx: CommandContext): Promise<void> {
    this.untracking.add(key);
    return this.queue.run(key, () => this.paced(() => this.requestUntrack(key, ctx))).finally(() => this.untracking.delete(key));
  }

  /** Runs `work` once one of UNTRACK_CONCURRENCY slots is free, in order of asking. */
  private async paced(work: () => Promise<void>): Promise<void> {
    if (this.untrackSlots > 0) this.untrackSlots--;
    else await new Promise<void>((resolve) => this.untracksWaiting.push(resolve));
    try {
      if (!this.untracksAbandoned) await work();
    } finally {
      const next = this.untracksWaiting.shift();
      if (next) next();
      else this.untrackSlots++;
    }
  }

  private async requestUntrack(key: string, ctx: CommandContext): Promise<void> {
    const asked = performance.now();
    const reply = await requestService(this.nats, presenceSubjects.untrack, { ctx, payload: {} }, { timeoutMs: this.opts.timeoutMs });
    this.observed(presenceSubjects.untrack, reply.ok ? 'ok' : reply.error.code, asked);
    if (reply.ok) return;
    // Shutting down: presence evicts what this gateway could not untrack once its liveness stops.
    if (this.closed) {
      this.logger.debug({ key, error: reply.error }, 'presence untrack failed at shutdown; left to eviction');
      return;
    }
    // This gateway stays alive, so nothing else would remove the key: retried every interval
    // (an untrack is idempotent), unless the connection joined again meanwhile.
    this.logger.warn({ key, error: reply.error }, 'presence untrack failed; retrying with the next refresh');
    if (!this.live.has(key)) this.unconfirmedUntracks.set(key, ctx);
  }

  /**
   * This gateway's liveness, one small request whatever its number of sockets. When presence had
   * declared it dead (it stalled past the TTL, so connections may have been evicted, or the bucket
   * was lost), every connection confirmed before the request is tracked again. So are they when
   * presence holds fewer of its connections than it confirmed a while ago: the reply that said
   * `resync` may have been lost (a refresh answered after its timeout), or an eviction raced the
   * revival; tracking again is a no-op for the connections presence still holds.
   */
  refresh(): void {
    if (this.closed) return;
    for (const [key, ctx] of this.unconfirmedUntracks) {
      this.unconfirmedUntracks.delete(key);
      void this.queueUntrack(key, ctx);
    }
    // Nothing to keep alive (the next track announces it again), unless untracks are on their way:
    // until presence has them, the keys are this gateway's, and a silent gateway's keys are evicted
    // (recorded as evictions, not leaves).
    if (this.live.size === 0 && this.untracking.size === 0 && this.unconfirmedUntracks.size === 0) return;
    // Presence held more of our connections than we have, twice in a row (an untrack in flight
    // explains one round): our list lets it remove the others.
    // Keys whose untrack is on its way count as ours: presence may hold them a moment longer, and
    // the untrack (not an eviction) removes them.
    const listed = this.excessRounds >= EXCESS_ROUNDS_BEFORE_LISTING;
    const leaving = new Set([...this.untracking, ...this.unconfirmedUntracks.keys()]);
    const ours = this.live.size + leaving.size;
    const batch: PresenceRefresh = {
      gateway_id: this.gatewayId,
      connections: this.live.size,
      ...(listed ? { keys: [...this.live.keys(), ...leaving] } : {}),
    };
    if (listed) {
      this.excessRounds = 0;
      this.logger.warn(
        { gateway_id: this.gatewayId, connections: batch.connections },
        'presence holds connections this gateway does not track; sending our list so it removes them',
      );
    }
    const sentAt = Date.now();
    const asked = performance.now();
    this.nats.request(presenceSubjects.refresh, this.encoder.encode(JSON.stringify(batch)), { timeout: this.opts.refreshMs }).then(
      (msg) => {
        this.observed(presenceSubjects.refresh, 'ok', asked);
        const reply = RefreshReply.safeParse(msg.json());
        if (!reply.success) return;
        if (reply.data.resync) {
          this.excessRounds = 0;
          void this.resync(sentAt);
          return;
        }
        this.excessRounds = !listed && reply.data.held > ours ? this.excessRounds + 1 : 0;
        // Confirmed a while before the request: presence's view has them, unless they were lost.
        const settledBefore = sentAt - Math.min(this.opts.refreshMs, SETTLE_MS);
        let settled = 0;
        for (const confirmed of this.confirmedAt.values()) if (confirmed <= settledBefore) settled++;
        if (reply.data.held < settled) {
          this.logger.warn(
            { gateway_id: this.gatewayId, held: reply.data.held, confirmed: settled },
            'presence holds fewer of our connections than it confirmed; tracking them again',
          );
          void this.resync(settledBefore);
        }
      },
      // No presence instance answered this round: the liveness ages, the next round tries again.
      (err: unknown) => {
        this.observed(presenceSubjects.refresh, 'unavailable', asked);
        this.logger.debug({ err }, 'presence refresh unanswered');
      },
    );
  }

  /** Tracks again (`retrack`: a no-op where the key is still there) every connection confirmed before `sentAt`. */
  private async resync(sentAt: number): Promise<void> {
    if (this.resyncing) return;
    this.resyncing = true;
    try {
      const due = [...this.live.keys()].filter((key) => {
        const confirmed = this.confirmedAt.get(key);
        return confirmed !== undefined && confirmed <= sentAt;
      });
      this.logger.info(
        { gateway_id: this.gatewayId, connections: due.length },
        'presence did not hold this gateway as alive; tracking its connections again',
      );
      let next = 0;
      const worker = async () => {
        for (let key = due[next++]; key !== undefined && !this.closed; key = due[next++]) {
          if (this.restore(key, sentAt)) await this.queue.idle(key);
        }
      };
      await Promise.all(Array.from({ length: RESYNC_CONCURRENCY }, worker));
    } finally {
      this.resyncing = false;
    }
  }

  /** Tracks a connection again, unless it changed since `sentAt`; true when a restore was queued. */
  private restore(key: string, sentAt: number): boolean {
    const ctx = this.live.get(key);
    const confirmed = this.confirmedAt.get(key);
    if (!ctx || confirmed === undefined || confirmed > sentAt || this.closed) return false;
    this.confirmedAt.delete(key); // one restore at a time
    void this.queue.run(key, async () => {
      if (this.live.get(key) !== ctx) return;
      const reply = await this.requestTrack(key, ctx, { gateway_id: this.gatewayId, retrack: true });
      if (reply.ok) return;
      this.logger.warn({ key, error: reply.error }, 'presence restore failed; the next resync retries');
      if (this.live.get(key) === ctx) this.confirmedAt.set(key, 0);
    });
    return true;
  }

  /** Gateway shutdown: untracks every live connection and waits (bounded) before NATS is drained. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.closed = true;
    for (const [key, ctx] of this.unconfirmedUntracks) void this.queueUntrack(key, ctx);
    this.unconfirmedUntracks.clear();
    for (const [key, ctx] of this.live) void this.queueUntrack(key, ctx);
    this.live.clear();
    await Promise.race([this.queue.allIdle(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.untracksAbandoned = true;
    for (let next = this.untracksWaiting.shift(); next; next = this.untracksWaiting.shift()) next();
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
