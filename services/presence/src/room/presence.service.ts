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
  type TrackedConnection,
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
  staleEntries,
  updateDiff,
  type ConnectionKey,
  type LockChange,
  type PresenceEntry,
} from './presence-room.js';

type Held = BucketEntry<PresenceEntry> & { value: PresenceEntry };

/**
 * Presence of every room, on the presence bucket. Any number of instances run this: each keeps a
 * view of the bucket from a watch, and every change is a compare-and-set on the bucket, so exactly
 * one instance wins it and only the winner broadcasts the diff (no duplicate diffs).
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private bucket!: PresenceBucket<PresenceEntry>;
  /** key → the latest entry seen on the watch (deleted keys removed). */
  private readonly view = new Map<string, Held>();
  private readonly stops: Array<() => void> = [];
  private sweeping = false;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit<PresenceConfig>) {}

  private get ttlMs(): number {
    return this.kit.config.PRESENCE_TTL_MS;
  }

  async onModuleInit(): Promise<void> {
    this.bucket = await PresenceBucket.open<PresenceEntry>(this.kit.nats, this.ttlMs);
    const watch = await this.bucket.watch((e) => {
      if (e.value) this.view.set(e.key, e as Held);
      else this.view.delete(e.key);
    });
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
          (missing) => {
            const reply: RefreshReply = { missing };
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
    const prefix = projectKeyPrefix(projectId);
    const metas: PresenceMeta[] = [];
    for (const [key, e] of this.view) if (key.startsWith(prefix)) metas.push(e.value.meta);
    return presenceStateOf(metas);
  }

  /** Users online in a project (to leave them out of the offline list). */
  onlineUsers(projectId: number): Set<number> {
    const prefix = projectKeyPrefix(projectId);
    const users = new Set<number>();
    for (const [key, e] of this.view) if (key.startsWith(prefix)) users.add(e.value.meta.user_id);
    return users;
  }

  /** A connection joined a project's room: its key is written and a join is broadcast. */
  async track(ctx: CommandContext, retrack = false): Promise<TrackReply> {
    const key = this.keyOf(ctx);
    const now = new Date();
    for (let attempt = 1; attempt <= 10; attempt++) {
      const current = await this.bucket.get(key);
      const meta = joinedMeta(ctx, now, newPhxRef());
      // A gateway restoring a connection that is there after all: nothing changes.
      if (current && retrack) return { meta: current.value!.meta, replaced_phx_ref: null };
      if (current) {
        // The same connection joined again (a rejoin): an update of its meta, same session.
        const revision = await this.bucket.update(key, { session_id: current.value!.session_id, meta }, current.revision);
        if (revision === null) continue;
        this.broadcast(ctx.project_id, updateDiff(current.value!.meta, meta), ctx.connection_id);
        return { meta, replaced_phx_ref: current.value!.meta.phx_ref };
      }
      const sessionId = randomUUID();
      // The session is recorded before the key exists, so a leave always finds it.
      await recordSession(this.kit, sessionId, {
        type: 'JoinSession',
        data: { connectionId: ctx.connection_id, userId: ctx.user_id, projectId: ctx.project_id, now },
      });
      const revision = await this.bucket.create(key, { session_id: sessionId, meta });
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
      if (!current) return false;
      if (!(await this.bucket.delete(key, current.revision))) continue;
      this.view.delete(key);
      this.broadcast(ctx.project_id, leaveDiff(current.value!.meta));
      await recordSession(this.kit, current.value!.session_id, { type: 'LeaveSession', data: { now: new Date() } });
      return true;
    }
    throw new AppError('unavailable', 'presence changed concurrently too often; try again');
  }

  /**
   * Rewrites the keys of a gateway's live connections with unchanged values: no diff, a fresh
   * write time (and bucket age). A key that changed meanwhile (a lock) is fresh already. Returns
   * the connections the bucket does not hold (swept while their gateway stalled, or aged out
   * while presence was down), so the gateway can track them again.
   */
  async refresh(batch: PresenceRefresh): Promise<TrackedConnection[]> {
    const missing: TrackedConnection[] = [];
    await Promise.all(
      batch.connections.map(async (c) => {
        if (!isKeyableConnectionId(c.connection_id)) return;
        const key = presenceKey({ projectId: c.project_id, userId: c.user_id, connectionId: c.connection_id });
        const held = this.view.get(key);
        if (held) {
          await this.bucket.update(key, held.value, held.revision);
          return;
        }
        // Not in this instance's view: the watch may lag a fresh track, so ask the bucket itself.
        if (!(await this.bucket.get(key))) missing.push(c);
      }),
    );
    return missing;
  }

  /**
   * Evicts entries not refreshed within the TTL (their gateway died). Every instance sweeps;
   * the compare-and-set delete lets one win, and only it broadcasts and records the eviction.
   */
  async sweep(): Promise<void> {
    for (const [key, held] of staleEntries(this.view, Date.now(), this.ttlMs)) {
      let won = await this.bucket.delete(key, held.revision);
      // The bucket's own TTL may have removed the message already (nats-server 2.9 says nothing):
      // then "no message at all" is what the delete expects, and again only one instance wins.
      if (!won && (await this.bucket.lastRevision(key)) === 0) won = await this.bucket.delete(key, 0);
      if (this.view.get(key) === held) this.view.delete(key);
      if (!won) continue;
      const k = parsePresenceKey(key);
      if (!k) continue;
      this.kit.logger.info({ key, age_ms: Date.now() - held.writtenAt }, 'evicted a connection not refreshed within the TTL');
      this.broadcast(k.projectId, leaveDiff(held.value.meta));
      await recordSession(this.kit, held.value.session_id, { type: 'EvictConnection', data: { now: new Date() } });
    }
  }

  /** Documents' lock events move the holder's meta: editing, current_document, editing_since. */
  async applyLock(k: ConnectionKey, change: LockChange): Promise<void> {
    if (!isKeyableConnectionId(k.connectionId)) return;
    const key = presenceKey(k);
    for (let attempt = 1; attempt <= 10; attempt++) {
      const current = await this.bucket.get(key);
      if (!current) return; // the connection is gone; nothing to show
      const after = metaAfterLock(current.value!.meta, change, newPhxRef());
      if (!after) return;
      const revision = await this.bucket.update(key, { session_id: current.value!.session_id, meta: after }, current.revision);
      if (revision === null) continue;
      this.broadcast(k.projectId, updateDiff(current.value!.meta, after));
      return;
    }
    throw new Error(`presence of ${key} changed concurrently too often`);
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
