import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  describeIssues,
  IdempotencyKey,
  isProjectClientEvent,
  NOT_A_MEMBER,
  parseTopic,
  PhxEvent,
  projectClientEvents,
  replyError,
  subjects,
  type CommandContext,
  type ErrorBody,
  type ParsedTopic,
  type ServerFrame,
} from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { currentTraceId, inSpan, setOutcome, SpanKind, tracingEnabled } from '@siteflow/telemetry';
import type { SessionUser } from '../auth/tokens.js';
import type { GatewayConfig } from '../config.js';
import { secondsSince, type GatewayMetrics } from '../metrics.js';
import { withOwnMeta, type PresenceTracker } from '../presence/presence-tracker.js';
import { readRoomSnapshot, type RoomSnapshotResult } from '../rooms/snapshot.js';
import type { RoomClient, Rooms } from '../rooms/rooms.js';
import { CloseCode, decodeFrame, encodeFrame, type Decoded } from './frames.js';
import { JoinAdmission } from './join-admission.js';
import { encodeJoinReply } from './join-reply.js';
import { batchWrites } from './write-batch.js';

export interface ConnectionDeps {
  config: GatewayConfig;
  logger: Logger;
  nats: NatsConnection;
  rooms: Rooms;
  now: () => number;
  presence?: PresenceTracker;
  metrics?: GatewayMetrics;
}

/**
 * A topic's join. Pushes are routed only once `joined` is true: until its reply a join is pending,
 * and a push on it is refused, never run (Phoenix clients buffer pushes until the join reply).
 */
type Join = {
  joinRef: string;
  topic: ParsedTopic;
  joined: boolean;
  /** Who and where, with the user's role in that project: set once membership was confirmed. */
  ctx: CommandContext | null;
  /** Refs of the pushes on this join still waiting for their service's answer; null when none (most joins, most of the time). */
  pending: Set<string> | null;
  /** The user was removed from the project while this join was still reading its snapshot. */
  removed?: true;
};

/**
 * One socket speaking Phoenix Channels v2: heartbeats, joins and leaves, pushes forwarded to the
 * owning service with who/where added, one reply per push. Holds no domain logic.
 */
export class Connection implements RoomClient {
  /** Topic → the current join. */
  private readonly joins = new Map<string, Join>();
  lastFrameAt: number;
  private closed = false;
  /** Project joins waiting for their turn (JoinAdmission): topic → join_ref; null when none (an idle socket holds no empty map). */
  private queuedJoins: Map<string, string> | null = null;
  /** The gateway is shutting down: pushes are refused, those in flight finish (`finishPushes`). */
  private draining = false;
  /** Token bucket of frames: FRAMES_PER_SECOND, bursts up to twice that. */
  private tokens: number;
  private tokensAt: number;
  private refusedInARow = 0;

  constructor(
    readonly id: string,
    readonly user: SessionUser,
    private readonly ws: WebSocket,
    private readonly deps: ConnectionDeps,
  ) {
    this.lastFrameAt = deps.now();
    this.tokens = deps.config.FRAMES_PER_SECOND * 2;
    this.tokensAt = this.lastFrameAt;
  }

  private takeToken(now: number): boolean {
    const rate = this.deps.config.FRAMES_PER_SECOND;
    this.tokens = Math.min(rate * 2, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get joinedTopics(): string[] {
    return [...this.joins.keys()];
  }

  get joinedTopicCount(): number {
    return this.joins.size;
  }

  /** Data written to the socket and not yet sent. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** Writes a serialised frame; a socket that cannot keep up is closed, not buffered forever. */
  send(text: string | Buffer): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.deps.config.MAX_BUFFERED_BYTES) {
      this.deps.logger.warn({ connection: this.id, user: this.user.id, buffered: this.ws.bufferedAmount }, 'slow consumer closed');
      this.deps.metrics?.slowConsumerClosed();
      this.ws.terminate();
      return;
    }
    // Buffers go out as text frames too (Phoenix v2 JSON is text); this turn's frames in one write.
    batchWrites(this.ws);
    this.ws.send(text, { binary: false });
    this.deps.metrics?.frameSent();
  }

  private sendFrame(frame: ServerFrame): void {
    this.send(encodeFrame(frame));
  }

  private reply(joinRef: string | null, ref: string, topic: string, response: unknown): void {
    this.sendFrame([joinRef, ref, topic, PhxEvent.reply, { status: 'ok', response }]);
  }

  private replyErr(joinRef: string | null, ref: string | null, topic: string, error: ErrorBody): void {
    if (ref === null) return; // nobody waits for an answer to a frame without a ref
    this.sendFrame([joinRef, ref, topic, PhxEvent.reply, replyError(error)]);
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, reason);
  }

  /** Entry point for every text frame; `decoded` is the frame's `decodeFrame`, if the caller already has it. */
  onFrame(text: string, decoded?: Decoded): void {
    const now = this.deps.now();
    this.lastFrameAt = now;
    const limited = !this.takeToken(now);
    const d = decoded ?? decodeFrame(text);
    if (d.kind === 'close') {
      this.close(d.code, d.reason);
      return;
    }
    if (limited) {
      // Flooding: each frame gets a cheap refusal; a flood that goes on closes the socket.
      this.deps.metrics?.frameRateLimited();
      if (++this.refusedInARow >= this.deps.config.MAX_RATE_LIMITED_FRAMES) {
        this.close(CloseCode.policyViolation, 'too many frames');
        return;
      }
      this.replyErr(d.joinRef, d.ref, d.topic, { code: 'rate_limited', message: 'too many frames; slow down' });
      return;
    }
    this.refusedInARow = 0;
    if (d.kind === 'reject') {
      this.replyErr(d.joinRef, d.ref, d.topic, d.error);
      return;
    }
    const { joinRef, ref, topic, event, payload } = d;

    if (topic === 'phoenix' && event === PhxEvent.heartbeat) {
      this.reply(null, ref, 'phoenix', {});
      return;
    }
    if (event === PhxEvent.join) {
      const started = performance.now();
      const jr = joinRef ?? ref;
      // A user topic costs no request: joined at once. A project join waits its turn (JoinAdmission).
      if (!topic.startsWith('project:')) {
        void this.runJoin(jr, ref, topic, started);
        return;
      }
      const busy = () => {
        this.deps.metrics?.observeJoin('rate_limited', secondsSince(started));
        this.replyErr(jr, ref, topic, busyJoining(this.deps.config));
      };
      (this.queuedJoins ??= new Map()).set(topic, jr);
      const mine = () => this.queuedJoins?.get(topic) === jr;
      const accepted = joinAdmissionOf(this.deps.config).offer(topic, {
        start: () => {
          if (mine()) this.dequeueJoin(topic);
          return this.runJoin(jr, ref, topic, started);
        },
        refuse: () => {
          if (mine()) this.dequeueJoin(topic);
          busy();
        },
        // Closed, left, or joined again meanwhile: nobody waits for this one.
        abandoned: () => this.closed || !mine(),
      });
      if (!accepted) {
        if (mine()) this.dequeueJoin(topic);
        busy();
      }
      return;
    }
    if (event === PhxEvent.leave && this.queuedJoins?.get(topic) === joinRef) {
      // Left while its join waited for its turn: the join is dropped, the leave answered as usual.
      this.dequeueJoin(topic);
      this.reply(joinRef, ref, topic, {});
      this.sendFrame([joinRef, joinRef, topic, PhxEvent.close, {}]);
      return;
    }
    const current = this.joins.get(topic);
    if (event === PhxEvent.leave) {
      if (!current || current.joinRef !== joinRef) {
        this.replyErr(joinRef, ref, topic, { code: 'unmatched_topic', message: 'unmatched topic' });
        return;
      }
      this.leave(topic, current);
      this.reply(joinRef, ref, topic, {});
      this.sendFrame([joinRef, joinRef, topic, PhxEvent.close, {}]);
      return;
    }
    if (!current) {
      this.replyErr(joinRef, ref, topic, { code: 'unmatched_topic', message: 'unmatched topic' });
      return;
    }
    if (current.joinRef !== joinRef) {
      // A push from a join that has since been replaced: Phoenix drops it.
      this.deps.logger.debug({ topic, joinRef }, 'stale join_ref dropped');
      return;
    }
    if (!current.joined) {
      this.replyErr(joinRef, ref, topic, { code: 'unmatched_topic', message: `not joined to ${topic} yet: push after the join's reply` });
      return;
    }
    if (this.draining) {
      this.replyErr(joinRef, ref, topic, { code: 'unavailable', message: 'this server is shutting down: push again once reconnected' });
      return;
    }
    const started = performance.now();
    void this.tracedPush(current, ref, topic, event, payload).then(
      (outcome) => this.deps.metrics?.observePush(event, outcome, secondsSince(started)),
      (err: unknown) => {
        this.deps.logger.error(
          { err, trace: currentTraceId(), topic, event, user: this.user.id, connection: this.id, project: current.ctx?.project_id },
          'push failed',
        );
        this.deps.metrics?.observePush(event, 'internal', secondsSince(started));
        this.replyErr(joinRef, ref, topic, { code: 'internal', message: 'internal error' });
      },
    );
  }

  private dequeueJoin(topic: string): void {
    this.queuedJoins?.delete(topic);
    if (this.queuedJoins?.size === 0) this.queuedJoins = null;
  }

  /** The context of a command in a project: the role is the user's role in that project. */
  private context(projectId: number, role: CommandContext['role']): CommandContext {
    return {
      user_id: this.user.id,
      username: this.user.username,
      role,
      avatar_url: this.user.avatar_url,
      connection_id: this.id,
      project_id: projectId,
    };
  }

  /** Joins a topic; resolves to the outcome for metrics: `ok`, the error code replied, or `superseded`. */
  private async join(joinRef: string | null, ref: string | null, topicName: string): Promise<string> {
    if (joinRef === null) {
      this.replyErr(null, ref, topicName, { code: 'invalid_payload', message: 'phx_join needs a join_ref' });
      return 'invalid_payload';
    }
    const topic = parseTopic(topicName);
    if (!topic) {
      this.replyErr(joinRef, ref, topicName, { code: 'unmatched_topic', message: 'unmatched topic' });
      return 'unmatched_topic';
    }
    if (topic.kind === 'user' && topic.userId !== this.user.id) {
      this.replyErr(joinRef, ref, topicName, { code: 'unauthorized', message: "another user's topic" });
      return 'unauthorized';
    }
    // Rejoining a joined topic closes the old join first, as Phoenix does.
    const previous = this.joins.get(topicName);
    if (!previous && this.joins.size >= this.deps.config.MAX_CHANNELS_PER_CONNECTION) {
      this.replyErr(joinRef, ref, topicName, {
        code: 'rate_limited',
        message: `at most ${this.deps.config.MAX_CHANNELS_PER_CONNECTION} channels per connection`,
      });
      return 'rate_limited';
    }
    if (previous) {
      this.leave(topicName, previous);
      this.sendFrame([previous.joinRef, previous.joinRef, topicName, PhxEvent.close, {}]);
    }
    const join: Join = { joinRef, topic, joined: false, ctx: null, pending: null };
    this.joins.set(topicName, join);
    const subject = topic.kind === 'project' ? subjects.projectAll(topic.projectId) : subjects.userAll(topic.userId);

    if (topic.kind === 'user') {
      const room = this.deps.rooms.acquire(topicName, subject);
      room.addJoining(this, joinRef);
      join.joined = true;
      if (ref !== null) this.reply(joinRef, ref, topicName, {});
      room.activate(this.id, joinRef, {});
      return 'ok';
    }

    // Membership first, from one small read: a non-member costs one lookup, never a snapshot.
    const refuse = (error: ErrorBody) => {
      this.leave(topicName, join);
      this.replyErr(joinRef, ref, topicName, error);
      return error.code;
    };
    // Asked of documents together with the other joins of this project in this turn (MembershipReads).
    const membership = await this.deps.rooms.membership.read(
      this.context(topic.projectId, this.user.role),
      this.deps.config.SNAPSHOT_TIMEOUT_MS,
      this.deps.logger,
      this.deps.metrics,
    );
    if (this.closed || this.joins.get(topicName) !== join) return 'superseded'; // superseded or gone meanwhile
    if (!membership.ok) return refuse(membership.error.code === 'unauthorized' ? NOT_A_MEMBER : membership.error);
    const ctx = this.context(topic.projectId, membership.role);
    join.ctx = ctx;

    // Subscribe before reading the snapshot, so nothing falls between snapshot and stream. The
    // room's other joins share one read (Room.addJoiningWithSnapshot).
    const room = this.deps.rooms.acquire(topicName, subject);
    const timeoutMs = this.deps.config.SNAPSHOT_TIMEOUT_MS;
    const read = () => readRoomSnapshot(this.deps.nats, ctx, timeoutMs, this.deps.logger, this.deps.metrics);
    const isMember = (r: RoomSnapshotResult) => r.ok && r.snapshot.project?.members.some((m) => m.user_id === this.user.id) === true;
    const reading = room.addJoiningWithSnapshot(this, joinRef, read);
    // A read made for another join: the chat's unread count in it is that user's, so ask for ours.
    let [result, ownUnread] = await Promise.all([
      reading.result,
      reading.shared ? this.deps.rooms.ownUnread.read(ctx, timeoutMs, this.deps.logger, this.deps.metrics) : null,
    ]);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run during the await; TypeScript keeps the narrowing from before it
    if (this.closed || this.joins.get(topicName) !== join) return 'superseded';
    if (reading.shared && result.ok && !isMember(result)) {
      // A read shared from another join that predates this member (added since): read for this
      // join alone. Its buffer began before this read, so nothing falls between.
      [result, ownUnread] = [await read(), null];
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run during the await; TypeScript keeps the narrowing from before it
      if (this.closed || this.joins.get(topicName) !== join) return 'superseded';
    }
    if (!result.ok) return refuse(result.error.code === 'unauthorized' ? NOT_A_MEMBER : result.error);
    if (ownUnread && !ownUnread.ok) return refuse(ownUnread.error.code === 'unauthorized' ? NOT_A_MEMBER : ownUnread.error);
    // Removed between the membership read and the snapshot: still no.
    if (!isMember(result)) return refuse(NOT_A_MEMBER);
    // A shared read's chat part holds the reader's unread count: this joiner's own goes in its stead.
    const unread = ownUnread ? ownUnread.unread : result.snapshot.chat.unread_count;
    let presence = result.presence;
    if (this.deps.presence) {
      // Tracked once the join is allowed; a leave or close meanwhile untracks it after (same queue).
      const tracked = await this.deps.presence.track(ctx);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run during the await; TypeScript keeps the narrowing from before it
      if (this.closed || this.joins.get(topicName) !== join) return 'superseded';
      if (!tracked.ok) return refuse(tracked.error);
      presence = withOwnMeta(presence, tracked.tracked);
    }
    // Removed while the snapshot was read (it may predate the removal): no.
    if (join.removed) return refuse(NOT_A_MEMBER);
    // Joined before the reply goes out: the client may push the moment it reads it.
    join.joined = true;
    if (ref !== null) this.send(encodeJoinReply(joinRef, ref, topicName, result.snapshot, unread));
    this.sendFrame([joinRef, null, topicName, 'presence_state', presence]);
    room.activate(this.id, joinRef, result.versions);
    return 'ok';
  }

  /** A join's work, with its outcome counted and an unexpected failure answered `internal`. */
  private runJoin(joinRef: string, ref: string | null, topic: string, started: number): Promise<void> {
    return this.join(joinRef, ref, topic).then(
      (outcome) => this.deps.metrics?.observeJoin(outcome, secondsSince(started)),
      (err: unknown) => {
        this.deps.logger.error(
          { err, topic, user: this.user.id, connection: this.id, project: this.joins.get(topic)?.ctx?.project_id },
          'join failed',
        );
        this.deps.metrics?.observeJoin('internal', secondsSince(started));
        this.replyErr(joinRef, ref, topic, { code: 'internal', message: 'internal error' });
      },
    );
  }

  private leave(topicName: string, join: Join): void {
    if (this.joins.get(topicName) === join) this.joins.delete(topicName);
    this.deps.rooms.leave(topicName, this.id, join.joinRef);
    this.untrack(join);
  }

  /** Untracks a join that may have been tracked (a join refused before its membership was known never was). */
  private untrack(join: Join): void {
    if (join.topic.kind === 'project' && join.ctx !== null) this.deps.presence?.untrack(join.ctx);
  }

  /**
   * A push as the root span of its trace (`push <event>`, from the socket frame to the reply): the
   * request to the service, and through it the service's handler, append, the relay's publish and
   * every gateway's fan-out, are its descendants. Attributes are ids and the route's event name
   * only (no payload, no token).
   */
  private tracedPush(join: Join, ref: string | null, topicName: string, event: string, payload: Record<string, unknown>): Promise<string> {
    if (!tracingEnabled()) return this.push(join, ref, topicName, event, payload);
    const known = isProjectClientEvent(event) ? event : 'unknown';
    const ids: Record<string, string | number> = { 'siteflow.user_id': this.user.id, 'siteflow.connection_id': this.id };
    if (join.ctx) ids['siteflow.project_id'] = join.ctx.project_id;
    return inSpan(`push ${known}`, { kind: SpanKind.SERVER, attributes: { 'siteflow.event': known, ...ids } }, async (span) => {
      const outcome = await this.push(join, ref, topicName, event, payload);
      setOutcome(span, outcome);
      return outcome;
    });
  }

  /** Forwards a push; resolves to its outcome for metrics: `ok` or the error code replied. */
  private async push(join: Join, ref: string | null, topicName: string, event: string, payload: Record<string, unknown>): Promise<string> {
    // Answered once: forceRejoin may have answered it already (then the service's late answer is dropped).
    if (ref !== null) (join.pending ??= new Set()).add(ref);
    const answer = () => ref !== null && answered(join, ref);
    const reject = (error: ErrorBody) => {
      if (answer()) this.replyErr(join.joinRef, ref, topicName, error);
      return error.code;
    };
    const ctx = join.ctx;
    if (join.topic.kind !== 'project' || ctx === null || !isProjectClientEvent(event)) {
      return reject({ code: 'unknown_event', message: `unknown event ${JSON.stringify(event.slice(0, 100))}` });
    }
    const route = projectClientEvents[event];
    // The client's idempotency key travels beside the payload, not in it.
    const { idempotency_key: rawKey, ...body } = payload;
    const key = rawKey === undefined ? undefined : IdempotencyKey.safeParse(rawKey);
    if (key && !key.success) {
      return reject({ code: 'invalid_payload', message: `idempotency_key: ${describeIssues(key.error)}` });
    }
    const parsed = route.payload.safeParse(body);
    if (!parsed.success) {
      return reject({ code: 'invalid_payload', message: describeIssues(parsed.error) });
    }
    const asked = performance.now();
    const reply = await requestService(
      this.deps.nats,
      route.subject,
      key ? { ctx, payload: parsed.data, idempotency_key: key.data } : { ctx, payload: parsed.data },
      { timeoutMs: this.deps.config.PUSH_TIMEOUT_MS, logger: this.deps.logger },
    );
    this.deps.metrics?.observeRequest(route.subject, reply.ok ? 'ok' : reply.error.code, secondsSince(asked));
    if (!reply.ok) return reject(reply.error);
    if (ref !== null && answer()) this.reply(join.joinRef, ref, topicName, reply.data ?? {});
    return 'ok';
  }

  /** The socket closed: leave every room. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [topic, join] of this.joins) {
      this.deps.rooms.leave(topic, this.id, join.joinRef);
      this.untrack(join);
    }
    this.joins.clear();
  }

  /**
   * Removed from the project (projects API): out of the topic at once, and so out of presence; an
   * `error` push says why, then `phx_close` (not `phx_error`: the client must not rejoin). A join
   * still reading its snapshot is marked, and refused once the snapshot is read: the snapshot's
   * parts may have been read before the removal.
   */
  removedFromProject(userId: number, topic: string, joinRef: string): void {
    const join = this.joins.get(topic);
    if (userId !== this.user.id || !join || join.joinRef !== joinRef) return;
    if (!join.joined) {
      join.removed = true;
      return;
    }
    this.leave(topic, join);
    this.sendFrame([joinRef, null, topic, 'error', { code: NOT_A_MEMBER.code, message: 'you were removed from this project' }]);
    this.sendFrame([joinRef, joinRef, topic, PhxEvent.close, {}]);
  }

  /**
   * Gateway shutdown, before the socket is closed: new pushes are refused `unavailable`, and those in
   * flight get their service's answer (each is bounded by PUSH_TIMEOUT_MS anyway) for up to
   * `boundMs`; any still unanswered then is answered `unavailable`. Closing at once would leave
   * them unanswered: the client would only see its push time out (rule 7, docs/consistency.md).
   */
  async finishPushes(boundMs: number): Promise<void> {
    this.draining = true;
    const pending = () => [...this.joins.values()].reduce((n, j) => n + (j.pending?.size ?? 0), 0);
    const until = Date.now() + boundMs;
    while (pending() > 0 && !this.closed && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const [topic, join] of this.joins) {
      for (const ref of join.pending ?? []) {
        this.replyErr(join.joinRef, ref, topic, {
          code: 'unavailable',
          message:
            'this server shut down before the service answered; it may or may not have been applied: retry with the same idempotency key',
        });
      }
      join.pending = null;
    }
  }

  /** NATS reconnected: this socket's joins are void; tell the client to rejoin (fresh snapshot). */
  forceRejoin(topic: string, joinRef: string): void {
    const join = this.joins.get(topic);
    if (!join || join.joinRef !== joinRef) return;
    this.joins.delete(topic);
    this.untrack(join);
    // Every push still in flight is answered before the join ends, or the client would drop its
    // answer (it rejoins under a new join ref) and only see a timeout. Whether the service applied
    // it is unknown: a retry with the same idempotency key gets the first outcome.
    for (const ref of join.pending ?? []) {
      this.replyErr(joinRef, ref, topic, {
        code: 'unavailable',
        message: 'the connection to the services was interrupted; it may or may not have been applied: retry with the same idempotency key',
      });
    }
    join.pending = null;
    this.sendFrame([joinRef, joinRef, topic, PhxEvent.error, {}]);
  }
}

/** Takes `ref` off the join's pushes waiting for an answer: true when it was waiting (it is answered now, once). */
function answered(join: Join, ref: string): boolean {
  if (join.pending === null || !join.pending.delete(ref)) return false;
  if (join.pending.size === 0) join.pending = null;
  return true;
}

/** Each gateway's (one config object's) line of project joins. */
const admissions = new WeakMap<GatewayConfig, JoinAdmission>();

/** The join admission of the gateway `config` belongs to: MAX_CONCURRENT_JOINS at once, MAX_QUEUED_JOINS waiting. */
export function joinAdmissionOf(config: GatewayConfig): JoinAdmission {
  let admission = admissions.get(config);
  if (!admission) {
    admission = new JoinAdmission({
      maxRunning: config.MAX_CONCURRENT_JOINS,
      maxQueued: config.MAX_QUEUED_JOINS,
      maxWaitMs: config.JOIN_QUEUE_MAX_WAIT_MS,
    });
    admissions.set(config, admission);
  }
  return admission;
}

/**
 * A join refused for load: retry after about the time the line ahead takes to drain (JoinAdmission.retryAfterMs),
 * at least a random delay in [JOIN_RETRY_AFTER_MS, 2 × that), so the refused come back spread out.
 */
function busyJoining(config: GatewayConfig): ErrorBody {
  const retryAfterMs = joinAdmissionOf(config).retryAfterMs(config.JOIN_RETRY_AFTER_MS);
  return {
    code: 'rate_limited',
    message: `the server is busy with other joins; retry in ${retryAfterMs} ms`,
    details: { retry_after_ms: retryAfterMs },
  };
}

export { CloseCode };
