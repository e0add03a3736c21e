import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  AppError,
  PRESENCE_DIFF_NAME,
  PresenceRefresh,
  presenceSubjects,
  subjects,
  type CommandContext,
  type PresenceDiff,
  type PresenceMeta,
  type PresenceState,
  type RefreshReply,
  type TrackReply,
} from '@siteflow/contracts';
import { SERVICE_KIT, StreamCommandBatcher, type ServiceKit } from '@siteflow/servicekit';
import type { Subscription } from '@nats-io/transport-node';
import { PresenceBucket, type BucketEntry } from '../bucket/presence-bucket.js';
import type { PresenceConfig } from '../config.js';
import { sessionCommand } from '../sessions/sessions.store.js';
import { definePresenceMetrics, type PresenceMetrics } from './presence.metrics.js';
import { DiffWindow, type PendingDiff } from './diff-window.js';
import {
  isKeyableConnectionId,
  joinedMeta,
  joinDiff,
  leaveDiff,
  metaAfterLock,
  newPhxRef,
  parsePresenceKey,
  presenceKey,
  presenceStateOf,
  dueForRewrite,
  EvictionGrace,
  evictableWithoutGateway,
  gatewayKey,
  gatewayVerdict,
  isAlive,
  isGatewayKey,
  type GatewayLiveness,
  type Observed,
  updateDiff,
  type ConnectionKey,
  type LockChange,
  type PresenceEntry,
} from './presence-room.js';

type Held = BucketEntry<PresenceEntry> & Observed & { value: PresenceEntry };
type Live = BucketEntry<GatewayLiveness> & Observed & { value: GatewayLiveness };
type Stored = PresenceEntry | GatewayLiveness;

/**
 * A dead gateway's connections evicted at once (each a compare-and-set delete, a broadcast and a
 * stored ConnectionEvicted): one by one, a gateway of 10,000 sockets took minutes to clear (14–26
 * a second in the bench's storm). Its liveness is checked again before each batch.
 */
const EVICTIONS_AT_ONCE = 32;
/** A key written this recently is not removed as untracked by its gateway (its track may postdate the gateway's list). */
const UNTRACKED_SETTLE_MS = 2_000;
/** Connection keys rewritten per gateway refresh at most (they are due once per max_age / 3). */
const REWRITES_PER_REFRESH = 200;
/** How long boot waits for the view to hold every key before giving up (the process restarts). */
const VIEW_LOAD_TIMEOUT_MS = 30_000;

/** The local monotonic clock every age in the view is measured on. */
const monotonic = () => performance.now();

/**
 * Presence of every room, on the presence bucket. Any number of instances run this: each keeps a
 * view of the bucket from a watch, and every change is a compare-and-set on the bucket, so exactly
 * one instance wins it and only the winner broadcasts the diff (no duplicate diffs).
 *
 * The bucket holds one key per connection (`p<project>.u<user>.c<connection>`, written on track,
 * on lock changes and on leave) and one liveness key per gateway (`g.<hash>`, rewritten once per
 * refresh interval). A connection lives as long as its gateway: when a gateway's liveness was not
 * rewritten for the TTL (it crashed or stalled), the sweep declares it dead on that key (a
 * compare-and-set, so a refresh and the declaration cannot both win) and evicts its connections
 * while the declaration stands. So an idle room costs O(gateways) writes per interval, whatever
 * the number of sockets. Evictions wait a TTL after boot and after any interruption of NATS or of
 * presence itself (`EvictionGrace`), so that a live gateway gets to refresh first.
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private bucket!: PresenceBucket<Stored>;
  /** project → key → the latest entry seen on the watch (deleted keys removed). */
  private readonly byProject = new Map<number, Map<string, Held>>();
  /** gateway id → its connection keys in the view (entries without a gateway under ''). */
  private readonly byGateway = new Map<string, Set<string>>();
  /** gateway id → its liveness entry in the view. */
  private readonly liveness = new Map<string, Live>();
  /** liveness key → gateway id (a deleted key carries no value to tell). */
  private readonly gatewayOfKey = new Map<string, string>();
  /** gateway id → since when this instance sees connections of it without any liveness (monotonic). */
  private readonly missingSince = new Map<string, number>();
  private grace!: EvictionGrace;
  /** The server's clock minus ours, from the latest write the watch delivered (for the bucket's max_age). */
  private serverClockOffsetMs = 0;
  private viewLoaded = false;
  private readonly stops: Array<() => void> = [];
  private stopWatch: () => void = () => {};
  private reloading = false;
  private sweeping = false;
  private readonly metrics: PresenceMetrics;
  /**
   * Sessions are written in group commits: every join and leave writes its own session stream, so
   * the many of a storm (a gateway's sockets coming back at once) share transactions instead of one
   * each (profiled: the session's transaction was most of presence's and Postgres's work per join).
   */
  private readonly sessions: StreamCommandBatcher;
  /**
   * Diffs of a project that become ready in the same event-loop turn are published as one (a
   * room's joins in a storm arrive together): O(rooms × turns) diffs instead of one per change,
   * each of which every member's socket receives.
   */
  private readonly diffs = new DiffWindow((projectId, merged, changes) => this.publishDiff(projectId, merged, changes));

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit<PresenceConfig>) {
    this.sessions = new StreamCommandBatcher(kit.store, { maxBatch: 64, concurrency: 2, readAhead: true });
    this.metrics = definePresenceMetrics(kit.metrics.registry, {
      trackedConnections: () => this.connectionCount(),
      liveGateways: () => [...this.liveness.values()].filter((l) => l.value.dead !== true).length,
    });
  }

  private get ttlMs(): number {
    return this.kit.config.PRESENCE_TTL_MS;
  }

  async onModuleInit(): Promise<void> {
    this.grace = new EvictionGrace(this.ttlMs, this.kit.config.PRESENCE_SWEEP_MS);
    this.bucket = await PresenceBucket.open<Stored>(
      this.kit.nats,
      this.kit.config.PRESENCE_KEY_MAX_AGE_MS,
      this.kit.config.PRESENCE_BUCKET_MAX_BYTES,
      this.kit.config.JETSTREAM_REPLICAS,
      { logger: this.kit.logger }, // a JetStream cluster still forming is waited for (bounded), not a failed boot
    );
    this.stops.push(() => this.stopWatch());
    // Snapshots, refreshes and the sweep all read the view: none is served from a partial one
    // (Nest subscribes the handlers once this returns).
    await this.loadView();
    this.viewLoaded = true;
    this.grace.viewLoaded(monotonic());
    this.kit.logger.info(
      { gateways: this.liveness.size, connections: this.connectionCount(), grace_ms: this.ttlMs },
      'presence view loaded; evictions wait one TTL',
    );

    // One request per gateway per interval, handled by one instance of the queue group.
    const sub: Subscription = this.kit.nats.subscribe(presenceSubjects.refresh, {
      queue: 'presence',
      callback: (err, msg) => {
        if (err) return;
        let json: unknown;
        try {
          json = msg.json();
        } catch {
          json = null;
        }
        const parsed = PresenceRefresh.safeParse(json);
        if (!parsed.success) {
          this.kit.logger.warn({ subject: msg.subject }, 'malformed presence refresh dropped');
          return;
        }
        void this.refresh(parsed.data).then(
          (reply) => {
            if (msg.reply) msg.respond(JSON.stringify(reply));
          },
          (e: unknown) =>
            this.kit.logger.error({ err: e, gateway: parsed.data.gateway_id, subject: msg.subject }, 'presence refresh failed'),
        );
      },
    });
    this.stops.push(() => sub.unsubscribe());

    // While cut off NATS no gateway could refresh: evictions wait a TTL once it is back.
    let watching = true;
    // Read through a call: TypeScript would keep the narrowing of the loop's first check.
    const isWatching = () => watching;
    this.stops.push(() => {
      watching = false;
    });
    void (async () => {
      for await (const s of this.kit.nats.status()) {
        if (!isWatching()) break;
        if (s.type === 'disconnect' || s.type === 'reconnect') {
          this.grace.interrupted(monotonic());
          this.kit.logger.warn({ status: s.type }, 'NATS connection interrupted: no eviction for one TTL');
        }
        if (s.type === 'reconnect') void this.reloadView();
      }
    })().catch((e: unknown) => this.kit.logger.error({ err: e }, 'NATS status watcher stopped'));

    const sweep = setInterval(() => this.tick(), this.kit.config.PRESENCE_SWEEP_MS);
    this.stops.push(() => clearInterval(sweep));
  }

  /**
   * (Re)builds the view from the bucket: a new watch delivers every key's entry, then every change.
   * Any earlier watch and what it saw are dropped first.
   */
  private async loadView(): Promise<void> {
    this.stopWatch();
    this.byProject.clear();
    this.byGateway.clear();
    this.liveness.clear();
    this.gatewayOfKey.clear();
    const watch = await this.bucket.watch((e) => this.observe(e));
    this.stopWatch = () => watch.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      watch.loaded,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the presence bucket did not load within ${VIEW_LOAD_TIMEOUT_MS} ms`)),
          VIEW_LOAD_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * After a reconnect the watch cannot be trusted to have seen every change (a restarted NATS
   * server drops its consumers, and what was written or deleted meanwhile never reaches it): the
   * view is read again from the bucket by a new watch. Evictions are held meanwhile (the
   * reconnect started a grace), and the reload is quick.
   */
  private async reloadView(): Promise<void> {
    if (this.reloading) return;
    this.reloading = true;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.loadView();
          this.grace.interrupted(monotonic());
          this.kit.logger.info(
            { gateways: this.liveness.size, connections: this.connectionCount() },
            'presence view read again after a NATS reconnect',
          );
          return;
        } catch (err) {
          this.kit.logger.warn({ err, attempt }, 'reading the presence view again failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
        }
      }
    } finally {
      this.reloading = false;
    }
  }

  onModuleDestroy(): void {
    this.diffs.flush(); // what the last turn made is still told
    for (const stop of this.stops.splice(0)) stop();
  }

  private tick(): void {
    const now = monotonic();
    if (this.grace.ticked(now))
      this.kit.logger.warn({ grace_ms: this.ttlMs }, 'presence did not run for a while (stopped or starved): no eviction for one TTL');
    if (this.sweeping) return; // a slow sweep is not overlapped by the next one
    this.sweeping = true;
    const endSweep = this.metrics.sweepSeconds.startTimer();
    void this.sweep()
      .catch((e: unknown) => this.kit.logger.error({ err: e }, 'presence sweep failed'))
      .finally(() => {
        endSweep();
        this.sweeping = false;
      });
  }

  /** Who is online in a project now, as Phoenix's `presence_state`. */
  stateOf(projectId: number): PresenceState {
    const metas: PresenceMeta[] = [];
    for (const e of this.byProject.get(projectId)?.values() ?? []) metas.push(e.value.meta);
    return presenceStateOf(metas);
  }

  /** Users online in a project (to leave them out of the offline list). */
  onlineUsers(projectId: number): Set<number> {
    const users = new Set<number>();
    for (const e of this.byProject.get(projectId)?.values() ?? []) users.add(e.value.meta.user_id);
    return users;
  }

  /** A connection joined a project's room: its key is written and a join is broadcast. */
  async track(ctx: CommandContext, gatewayId: string, retrack = false): Promise<TrackReply> {
    const key = this.keyOf(ctx);
    await this.ensureLiveness(gatewayId);
    const now = new Date();
    let sessionId: string | null = null;
    for (let attempt = 1; attempt <= 10; attempt++) {
      // A connection id is new per socket: the first attempt writes without looking (no message
      // of the key can exist); a rejoin, a retrack or a lost race looks at the bucket.
      const current = attempt === 1 && !retrack && !this.viewOf(key) ? undefined : await this.bucket.get(key);
      const meta = joinedMeta(ctx, now, newPhxRef());
      if (current && current.value !== null) {
        const held = current.value as PresenceEntry;
        // A gateway restoring a connection that is there after all: the entry is written again as
        // it is, so that every instance whose watch missed it (around a NATS restart) sees it and
        // counts it for that gateway again; nobody is told anything.
        if (retrack) {
          if ((await this.bucket.update(key, held, current.revision)) === null) continue;
          return { meta: held.meta, replaced_phx_ref: null };
        }
        // The same connection joined again (a rejoin): an update of its meta, same session.
        const revision = await this.bucket.update(key, { session_id: held.session_id, meta, gateway_id: gatewayId }, current.revision);
        if (revision === null) continue;
        this.broadcast(ctx.project_id, updateDiff(held.meta, meta), ctx.connection_id);
        return { meta, replaced_phx_ref: held.meta.phx_ref };
      }
      // The session is recorded (once, whatever the attempts) before the key exists, so a leave
      // always finds it.
      if (sessionId === null) {
        sessionId = randomUUID();
        await this.sessions.run(
          sessionCommand(sessionId, () => ({
            type: 'JoinSession',
            data: { connectionId: ctx.connection_id, userId: ctx.user_id, projectId: ctx.project_id, now },
          })),
        );
      }
      const entry: PresenceEntry = { session_id: sessionId, meta, gateway_id: gatewayId };
      const revision = current === undefined ? await this.bucket.update(key, entry, 0) : await this.bucket.create(key, entry);
      if (revision === null) continue;
      // A restored connection had been broadcast as gone, to itself too: everyone gets the join.
      this.broadcast(ctx.project_id, joinDiff(meta), retrack ? undefined : ctx.connection_id);
      return { meta, replaced_phx_ref: null };
    }
    throw new AppError('unavailable', 'presence changed concurrently too often; try again');
  }

  /** A connection left (phx_leave or socket closed): its key is deleted and a leave broadcast. */
  async untrack(ctx: CommandContext): Promise<boolean> {
    const key = this.keyOf(ctx);
    for (let attempt = 1; attempt <= 10; attempt++) {
      const current = await this.bucket.get(key);
      if (!current || current.value === null) return false;
      const held = current.value as PresenceEntry;
      if (!(await this.bucket.delete(key, current.revision))) continue;
      this.forget(key);
      this.broadcast(ctx.project_id, leaveDiff(held.meta));
      await this.sessions.run(sessionCommand(held.session_id, (now) => ({ type: 'LeaveSession', data: { now } })));
      return true;
    }
    throw new AppError('unavailable', 'presence changed concurrently too often; try again');
  }

  /**
   * A gateway's liveness: its key is rewritten (one write, whatever its number of sockets), and a
   * few of its connection keys that approach the bucket's max_age with it. `resync` when this
   * write revived a gateway declared dead (or whose liveness was gone): some of its connections
   * may have been evicted, so it tracks them again. `held` lets the gateway notice missing ones
   * even when the reply that said `resync` was lost.
   */
  async refresh(batch: PresenceRefresh): Promise<RefreshReply> {
    const gatewayId = batch.gateway_id;
    const { revived } = await this.writeLiveness(gatewayId);
    const keys = this.byGateway.get(gatewayId) ?? new Set<string>();
    const serverNow = Date.now() + this.serverClockOffsetMs;
    let rewrites = 0;
    for (const k of keys) {
      if (rewrites >= REWRITES_PER_REFRESH) break;
      const held = this.viewOf(k);
      if (!held || !dueForRewrite(held.writtenAt, serverNow, this.kit.config.PRESENCE_KEY_MAX_AGE_MS)) continue;
      rewrites++;
      await this.bucket.update(k, held.value, held.revision); // a change meanwhile made it fresh anyway
    }
    if (revived)
      this.kit.logger.info(
        { gateway_id: gatewayId, held: keys.size, connections: batch.connections },
        'gateway declared dead refreshed: asking it to track its connections again',
      );
    else if (batch.keys) await this.removeUntracked(gatewayId, new Set(batch.keys));
    return { resync: revived, held: this.byGateway.get(gatewayId)?.size ?? 0 };
  }

  /**
   * The gateway listed every connection it tracks, having seen presence hold more of them than it
   * has: the others are removed. Such a key comes from a track presence finished after the
   * gateway gave up on it (it refused the join and untracked, and the untrack found nothing yet);
   * the gateway is alive, so no sweep would ever remove it. A key this instance saw written in the
   * last moments is spared (a track sent after the list); the gateway lists again while the excess
   * lasts.
   */
  private async removeUntracked(gatewayId: string, tracked: ReadonlySet<string>): Promise<void> {
    const settledBefore = monotonic() - UNTRACKED_SETTLE_MS;
    for (const key of [...(this.byGateway.get(gatewayId) ?? [])]) {
      const held = this.viewOf(key);
      const k = parsePresenceKey(key);
      if (!held || !k || held.seenAt > settledBefore || tracked.has(`${k.projectId}/${k.connectionId}`)) continue;
      await this.evict(key, held, 'removed a connection its gateway does not track (a track that finished after the gateway gave up)');
    }
  }

  /**
   * Writes a gateway's liveness (compare-and-set, so it either lands before a sweep's declaration
   * of death, which then fails, or after it, which this reports as `revived`).
   */
  private async writeLiveness(gatewayId: string): Promise<{ revived: boolean }> {
    const key = gatewayKey(gatewayId);
    const alive: GatewayLiveness = { gateway_id: gatewayId };
    const seen = this.liveness.get(gatewayId);
    if (seen && (await this.bucket.update(key, alive, seen.revision)) !== null) return { revived: seen.value.dead === true };
    // Set once a write of ours lost to another: what is there now was written since we looked.
    let overtaken = seen !== undefined;
    for (let attempt = 1; attempt <= 10; attempt++) {
      // Not in the view, or the view lags: the bucket decides.
      const current = await this.bucket.get(key);
      const dead = current === null || (current.value as GatewayLiveness).dead === true;
      // Another track or refresh of the same gateway wrote it meanwhile: as fresh as ours would be.
      if (overtaken && !dead) return { revived: false };
      const written = current ? await this.bucket.update(key, alive, current.revision) : await this.bucket.create(key, alive);
      if (written !== null) return { revived: dead };
      overtaken = true;
    }
    throw new AppError('unavailable', 'gateway liveness changed concurrently too often; try again');
  }

  /**
   * Evicts the connections of gateways that stopped refreshing, then removes the liveness of
   * gateways left without connections. Every instance sweeps; compare-and-sets let one win each
   * step, and only it broadcasts and records an eviction.
   */
  async sweep(): Promise<void> {
    const sentAt = monotonic();
    try {
      await this.bucket.probe();
    } catch (err) {
      this.grace.probeFailedNow();
      throw err;
    }
    const answeredAt = monotonic();
    if (this.grace.probed(sentAt, answeredAt)) {
      this.kit.logger.warn(
        { round_trip_ms: Math.round(answeredAt - sentAt), grace_ms: this.ttlMs },
        'NATS did not answer for a while: no eviction for one TTL',
      );
    }
    if (!this.grace.allows(answeredAt)) return;

    for (const [gatewayId, keys] of [...this.byGateway]) {
      if (gatewayId === '') {
        const entries = [...keys].flatMap((k): Array<[string, Held]> => {
          const held = this.viewOf(k);
          return held ? [[k, held]] : [];
        });
        for (const [key, held] of evictableWithoutGateway(entries, monotonic(), this.ttlMs)) await this.evict(key, held);
        continue;
      }
      const deadRevision = await this.declaredDead(gatewayId);
      if (deadRevision === null) continue;
      const due = [...keys];
      for (let from = 0; from < due.length; from += EVICTIONS_AT_ONCE) {
        // Checked again before each batch: a refresh or a track rewrites the liveness, and from
        // then on nothing more of the gateway goes (what went already, it tracks again).
        const live = await this.bucket.get(gatewayKey(gatewayId));
        if (live?.revision !== deadRevision) {
          this.kit.logger.warn({ gateway_id: gatewayId }, 'gateway declared dead refreshed again: its eviction stops');
          break;
        }
        const batch = due.slice(from, from + EVICTIONS_AT_ONCE).flatMap((key): Array<[string, Held]> => {
          const held = this.viewOf(key);
          return held ? [[key, held]] : [];
        });
        await Promise.all(batch.map(([key, held]) => this.evict(key, held)));
      }
    }
    for (const gatewayId of this.missingSince.keys()) if (!this.byGateway.has(gatewayId)) this.missingSince.delete(gatewayId);

    for (const [gatewayId, live] of [...this.liveness]) {
      if ((this.byGateway.get(gatewayId)?.size ?? 0) > 0) continue;
      if (isAlive(live, monotonic(), this.ttlMs)) continue;
      if (await this.bucket.delete(live.key, live.revision))
        this.kit.logger.info({ gateway_id: gatewayId }, 'gateway gone: its liveness removed');
    }
  }

  /**
   * The revision of the gateway's declaration of death when its connections may be evicted, null
   * while it counts as alive. Declares it dead when it was silent for the TTL, as a compare-and-set
   * on the liveness this instance saw: a refresh that landed meanwhile makes it fail.
   */
  private async declaredDead(gatewayId: string): Promise<number | null> {
    const now = monotonic();
    const live = this.liveness.get(gatewayId);
    if (live) this.missingSince.delete(gatewayId);
    else if (!this.missingSince.has(gatewayId)) this.missingSince.set(gatewayId, now);
    const verdict = gatewayVerdict(live, this.missingSince.get(gatewayId) ?? now, now, this.ttlMs);
    if (verdict === 'alive') return null;
    if (verdict === 'evict') return live?.revision ?? null;
    const key = gatewayKey(gatewayId);
    const expected = live ? live.revision : await this.bucket.lastRevision(key);
    const revision = await this.bucket.update(key, { gateway_id: gatewayId, dead: true }, expected);
    if (revision === null) return null; // it refreshed meanwhile, or another instance declared it first (seen next sweep)
    this.kit.logger.warn(
      {
        gateway_id: gatewayId,
        connections: this.byGateway.get(gatewayId)?.size ?? 0,
        silent_ms: live ? Math.round(now - live.seenAt) : null,
      },
      'gateway stopped refreshing: declared dead, evicting its connections',
    );
    return revision;
  }

  private async evict(key: string, held: Held, why = 'evicted a connection of a gateway that stopped refreshing'): Promise<void> {
    let won = await this.bucket.delete(key, held.revision);
    // The bucket's max_age may have removed the message already (nats-server 2.9 says nothing):
    // then "no message at all" is what the delete expects, and again only one instance wins.
    if (!won && (await this.bucket.lastRevision(key)) === 0) won = await this.bucket.delete(key, 0);
    if (this.viewOf(key) === held) this.forget(key);
    if (!won) return;
    const k = parsePresenceKey(key);
    if (!k) return;
    this.metrics.evictions.inc();
    this.kit.logger.info({ key, gateway_id: held.value.gateway_id, age_ms: Math.round(monotonic() - held.seenAt) }, why);
    this.broadcast(k.projectId, leaveDiff(held.value.meta));
    await this.sessions.run(sessionCommand(held.value.session_id, (now) => ({ type: 'EvictConnection', data: { now } })));
  }

  /** Documents' lock events move the holder's meta: editing, current_document, editing_since. */
  async applyLock(k: ConnectionKey, change: LockChange): Promise<void> {
    if (!isKeyableConnectionId(k.connectionId)) return;
    const key = presenceKey(k);
    for (let attempt = 1; attempt <= 10; attempt++) {
      // The watch's copy first: a lock comes long after its connection's last write, which the watch
      // has by then, and each read of the bucket is a JetStream API request (one per lock event in
      // the room benchmark, issue 16). A copy behind the bucket fails the compare-and-set below, and
      // the next attempt reads the bucket; no copy (not watched yet) reads it at once.
      const current = (attempt === 1 ? this.viewOf(key) : undefined) ?? (await this.bucket.get(key));
      if (!current || current.value === null) return; // the connection is gone; nothing to show
      const held = current.value as PresenceEntry;
      const after = metaAfterLock(held.meta, change, newPhxRef());
      if (!after) return;
      const revision = await this.bucket.update(key, { ...held, meta: after }, current.revision);
      if (revision === null) continue;
      this.broadcast(k.projectId, updateDiff(held.meta, after));
      return;
    }
    throw new Error(`presence of ${key} changed concurrently too often`);
  }

  /**
   * A gateway's track writes its liveness first (unless this instance saw it alive), so its
   * connections are never without one, and a gateway declared dead that tracks is alive again.
   */
  private async ensureLiveness(gatewayId: string): Promise<void> {
    if (isAlive(this.liveness.get(gatewayId), monotonic(), this.ttlMs)) return;
    await this.writeLiveness(gatewayId);
  }

  /** The watch keeps the view: connection entries indexed by project and gateway, liveness by gateway. */
  private observe(e: BucketEntry<Stored>): void {
    const seenAt = monotonic();
    // Once loaded, the watch delivers writes as they happen: their time is the server's now.
    if (this.viewLoaded) this.serverClockOffsetMs = e.writtenAt - Date.now();
    if (isGatewayKey(e.key)) {
      if (e.value === null) {
        const g = this.gatewayOfKey.get(e.key);
        this.gatewayOfKey.delete(e.key);
        if (g !== undefined) this.liveness.delete(g);
      } else {
        const value = e.value as GatewayLiveness;
        this.liveness.set(value.gateway_id, { ...e, value, seenAt });
        this.gatewayOfKey.set(e.key, value.gateway_id);
      }
      return;
    }
    if (e.value === null) {
      this.forget(e.key);
      return;
    }
    const k = parsePresenceKey(e.key);
    if (!k) return;
    const held: Held = { ...e, value: e.value as PresenceEntry, seenAt };
    const before = this.viewOf(e.key);
    if (before && before.value.gateway_id !== held.value.gateway_id) this.unindexGateway(e.key, before);
    let room = this.byProject.get(k.projectId);
    if (!room) this.byProject.set(k.projectId, (room = new Map<string, Held>()));
    room.set(e.key, held);
    const g = held.value.gateway_id ?? '';
    let keys = this.byGateway.get(g);
    if (!keys) this.byGateway.set(g, (keys = new Set()));
    keys.add(e.key);
  }

  private connectionCount(): number {
    let n = 0;
    for (const room of this.byProject.values()) n += room.size;
    return n;
  }

  private viewOf(key: string): Held | undefined {
    const k = parsePresenceKey(key);
    return k ? this.byProject.get(k.projectId)?.get(key) : undefined;
  }

  private forget(key: string): void {
    const k = parsePresenceKey(key);
    if (!k) return;
    const room = this.byProject.get(k.projectId);
    const held = room?.get(key);
    if (!room || !held) return;
    room.delete(key);
    if (room.size === 0) this.byProject.delete(k.projectId);
    this.unindexGateway(key, held);
  }

  private unindexGateway(key: string, held: Held): void {
    const g = held.value.gateway_id ?? '';
    const keys = this.byGateway.get(g);
    keys?.delete(key);
    if (keys?.size === 0) this.byGateway.delete(g);
  }

  private keyOf(ctx: CommandContext): string {
    if (!isKeyableConnectionId(ctx.connection_id)) {
      throw new AppError('invalid_payload', 'connection_id may only hold letters, digits, "-", "_" and "="');
    }
    return presenceKey({ projectId: ctx.project_id, userId: ctx.user_id, connectionId: ctx.connection_id });
  }

  /**
   * `exclude` skips the joining connection: its own meta reaches it in its `presence_state`. The
   * diff is published at the end of this turn, merged with the project's other diffs of the turn
   * (`DiffWindow`; a lone one goes out as it is, exclusion included).
   */
  private broadcast(projectId: number, diff: PresenceDiff, exclude?: string): void {
    this.diffs.add(projectId, diff, exclude);
  }

  private publishDiff(projectId: number, { diff, exclude }: PendingDiff, changes: number): void {
    try {
      this.kit.publishEphemeral(subjects.projectEphemeral(projectId, 'presence', PRESENCE_DIFF_NAME), {
        broadcast: { event: 'presence_diff', payload: diff, ...(exclude ? { exclude_connection_id: exclude } : {}) },
      });
      this.metrics.diffsPublished.inc();
      this.metrics.diffChanges.inc(changes);
    } catch (err) {
      // Published after the change's own call returned: nobody is left to tell but the log.
      this.kit.logger.error({ err, project_id: projectId, changes }, 'presence diff could not be published');
    }
  }
}
