import { randomUUID } from 'node:crypto';
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
import { SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import type { Subscription } from '@nats-io/transport-node';
import { PresenceBucket, type BucketEntry } from '../bucket/presence-bucket.js';
import type { PresenceConfig } from '../config.js';
import { recordSession } from '../sessions/sessions.store.js';
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
  projectKeyPrefix,
  dueForRewrite,
  evictable,
  gatewayKey,
  isAlive,
  isGatewayKey,
  needsResync,
  type GatewayLiveness,
  updateDiff,
  type ConnectionKey,
  type LockChange,
  type PresenceEntry,
} from './presence-room.js';

type Held = BucketEntry<PresenceEntry> & { value: PresenceEntry };
type Live = BucketEntry<GatewayLiveness> & { value: GatewayLiveness };
type Stored = PresenceEntry | GatewayLiveness;

/** Connection keys rewritten per gateway refresh at most (they are due once per max_age / 3). */
const REWRITES_PER_REFRESH = 200;

/**
 * Presence of every room, on the presence bucket. Any number of instances run this: each keeps a
 * view of the bucket from a watch, and every change is a compare-and-set on the bucket, so exactly
 * one instance wins it and only the winner broadcasts the diff (no duplicate diffs).
 *
 * The bucket holds one key per connection (`p<project>.u<user>.c<connection>`, written on track,
 * on lock changes and on leave) and one liveness key per gateway (`g.<hash>`, rewritten once per
 * refresh interval). A connection lives as long as its gateway: when a gateway's liveness is older
 * than the TTL (it crashed or stalled), the sweep evicts its connections. So an idle room costs
 * O(gateways) writes per interval, whatever the number of sockets.
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
  private readonly stops: Array<() => void> = [];
  private sweeping = false;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit<PresenceConfig>) {}

  private get ttlMs(): number {
    return this.kit.config.PRESENCE_TTL_MS;
  }

  async onModuleInit(): Promise<void> {
    this.bucket = await PresenceBucket.open<Stored>(this.kit.nats, this.kit.config.PRESENCE_KEY_MAX_AGE_MS);
    const watch = await this.bucket.watch((e) => this.observe(e));
    this.stops.push(() => watch.stop());

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
          (e) => this.kit.logger.error({ err: e }, 'presence refresh failed'),
        );
      },
    });
    this.stops.push(() => sub.unsubscribe());

    const sweep = setInterval(() => {
      if (this.sweeping) return; // a slow sweep is not overlapped by the next one
      this.sweeping = true;
      void this.sweep()
        .catch((e) => this.kit.logger.error({ err: e }, 'presence sweep failed'))
        .finally(() => {
          this.sweeping = false;
        });
    }, this.kit.config.PRESENCE_SWEEP_MS);
    this.stops.push(() => clearInterval(sweep));
  }

  onModuleDestroy(): void {
    for (const stop of this.stops.splice(0)) stop();
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
        // A gateway restoring a connection that is there after all: nothing changes.
        if (retrack) return { meta: held.meta, replaced_phx_ref: null };
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
        await recordSession(this.kit, sessionId, {
          type: 'JoinSession',
          data: { connectionId: ctx.connection_id, userId: ctx.user_id, projectId: ctx.project_id, now },
        });
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
      await recordSession(this.kit, held.session_id, { type: 'LeaveSession', data: { now: new Date() } });
      return true;
    }
    throw new AppError('unavailable', 'presence changed concurrently too often; try again');
  }

  /**
   * A gateway's liveness: its key is rewritten (one write, whatever its number of sockets), and a
   * few of its connection keys that approach the bucket's max_age with it. `resync` when presence
   * did not hold the gateway as alive, so it tracks its connections again.
   */
  async refresh(batch: PresenceRefresh): Promise<RefreshReply> {
    const gatewayId = batch.gateway_id;
    const key = gatewayKey(gatewayId);
    const now = Date.now();
    const seen = this.liveness.get(gatewayId);
    let resync = needsResync(seen, now, this.ttlMs);
    let written = seen ? await this.bucket.update(key, { gateway_id: gatewayId }, seen.revision) : null;
    if (written === null) {
      // Not in the view, or the view lags: ask the bucket itself.
      const current = await this.bucket.get(key);
      resync ||= needsResync(current ?? undefined, now, this.ttlMs);
      written = current ? await this.bucket.update(key, { gateway_id: gatewayId }, current.revision) : await this.bucket.create(key, { gateway_id: gatewayId });
      // Another instance wrote it at the same moment: it is fresh either way.
    }
    const keys = this.byGateway.get(gatewayId) ?? new Set<string>();
    let rewrites = 0;
    for (const k of keys) {
      if (rewrites >= REWRITES_PER_REFRESH) break;
      const held = this.viewOf(k);
      if (!held || !dueForRewrite(held.writtenAt, now, this.kit.config.PRESENCE_KEY_MAX_AGE_MS)) continue;
      rewrites++;
      await this.bucket.update(k, held.value, held.revision); // a change meanwhile made it fresh anyway
    }
    if (resync) this.kit.logger.info({ gateway_id: gatewayId, held: keys.size, connections: batch.connections }, 'gateway was not known alive; asking it to track its connections again');
    return { resync, held: keys.size };
  }

  /**
   * Evicts the connections of gateways whose liveness is older than the TTL (they died), then
   * their liveness keys. Every instance sweeps; the compare-and-set delete lets one win, and only
   * it broadcasts and records the eviction.
   */
  async sweep(): Promise<void> {
    const now = Date.now();
    for (const [gatewayId, keys] of [...this.byGateway]) {
      if (gatewayId !== '' && isAlive(this.liveness.get(gatewayId), now, this.ttlMs)) continue;
      // The view may lag a refresh another instance just wrote: the bucket decides.
      if (gatewayId !== '' && isAlive((await this.bucket.get(gatewayKey(gatewayId))) ?? undefined, Date.now(), this.ttlMs)) continue;
      const entries: Array<[string, Held]> = [];
      for (const k of keys) {
        const held = this.viewOf(k);
        if (held) entries.push([k, held]);
      }
      // The rule itself (older than the TTL, gateway not alive), with what the view now knows.
      for (const [key, held] of evictable(entries, (g) => this.liveness.get(g), Date.now(), this.ttlMs)) await this.evict(key, held);
    }
    for (const [gatewayId, live] of [...this.liveness]) {
      if (isAlive(live, Date.now(), this.ttlMs) || (this.byGateway.get(gatewayId)?.size ?? 0) > 0) continue;
      if (await this.bucket.delete(live.key, live.revision)) this.kit.logger.info({ gateway_id: gatewayId }, 'gateway gone: its liveness removed');
      if (this.liveness.get(gatewayId) === live) this.liveness.delete(gatewayId);
    }
  }

  private async evict(key: string, held: Held): Promise<void> {
    let won = await this.bucket.delete(key, held.revision);
    // The bucket's max_age may have removed the message already (nats-server 2.9 says nothing):
    // then "no message at all" is what the delete expects, and again only one instance wins.
    if (!won && (await this.bucket.lastRevision(key)) === 0) won = await this.bucket.delete(key, 0);
    if (this.viewOf(key) === held) this.forget(key);
    if (!won) return;
    const k = parsePresenceKey(key);
    if (!k) return;
    this.kit.logger.info({ key, gateway_id: held.value.gateway_id, age_ms: Date.now() - held.writtenAt }, 'evicted a connection of a gateway that stopped refreshing');
    this.broadcast(k.projectId, leaveDiff(held.value.meta));
    await recordSession(this.kit, held.value.session_id, { type: 'EvictConnection', data: { now: new Date() } });
  }

  /** Documents' lock events move the holder's meta: editing, current_document, editing_since. */
  async applyLock(k: ConnectionKey, change: LockChange): Promise<void> {
    if (!isKeyableConnectionId(k.connectionId)) return;
    const key = presenceKey(k);
    for (let attempt = 1; attempt <= 10; attempt++) {
      const current = await this.bucket.get(key);
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

  /** A gateway's first track writes its liveness, so its connections are never without one. */
  private async ensureLiveness(gatewayId: string): Promise<void> {
    if (isAlive(this.liveness.get(gatewayId), Date.now(), this.ttlMs)) return;
    const key = gatewayKey(gatewayId);
    const current = await this.bucket.get(key);
    if (current) {
      if (isAlive(current, Date.now(), this.ttlMs)) return;
      await this.bucket.update(key, { gateway_id: gatewayId }, current.revision);
    } else {
      await this.bucket.create(key, { gateway_id: gatewayId }); // null: another instance wrote it first
    }
  }

  /** The watch keeps the view: connection entries indexed by project and gateway, liveness by gateway. */
  private observe(e: BucketEntry<Stored>): void {
    if (isGatewayKey(e.key)) {
      if (e.value === null) {
        for (const [g, live] of this.liveness) if (live.key === e.key) this.liveness.delete(g);
      } else {
        const value = e.value as GatewayLiveness;
        this.liveness.set(value.gateway_id, e as Live);
      }
      return;
    }
    if (e.value === null) {
      this.forget(e.key);
      return;
    }
    const k = parsePresenceKey(e.key);
    if (!k) return;
    const held = e as Held;
    const before = this.viewOf(e.key);
    if (before && before.value.gateway_id !== held.value.gateway_id) this.unindexGateway(e.key, before);
    let room = this.byProject.get(k.projectId);
    if (!room) this.byProject.set(k.projectId, (room = new Map()));
    room.set(e.key, held);
    const g = held.value.gateway_id ?? '';
    let keys = this.byGateway.get(g);
    if (!keys) this.byGateway.set(g, (keys = new Set()));
    keys.add(e.key);
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

  /** `exclude` skips the joining connection: its own meta reaches it in its `presence_state`. */
  private broadcast(projectId: number, diff: PresenceDiff, exclude?: string): void {
    this.kit.publishEphemeral(subjects.projectEphemeral(projectId, 'presence', PRESENCE_DIFF_NAME), {
      broadcast: { event: 'presence_diff', payload: diff, ...(exclude ? { exclude_connection_id: exclude } : {}) },
    });
  }
}
