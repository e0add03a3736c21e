import pg from 'pg';
import type { Logger } from 'pino';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  DiscardPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { headers as natsHeaders, InvalidArgumentError, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  contextFromFields,
  failed,
  injectHeaders,
  SpanKind,
  startSpan,
  traceIdFromFields,
  tracingEnabled,
  withSpan,
} from '@siteflow/telemetry';
import { retryWhileJetStreamForms } from './jetstream-ready.js';
import { DEFAULT_POSTGRES_TIMEOUTS } from './pool.js';
import { prepared } from './prepared.js';
import { toPublishedEvent } from './published.js';
import { START, compareCheckpoints, readAllEvents, readLastPosition, type Queryable } from './read.js';
import { lockKey, storeSchema, type StoreSchema } from './schema.js';
import type { EventStore, GlobalCheckpoint, RecordedEvent } from './types.js';

export interface OutboxRelayOptions {
  store: EventStore;
  nats: NatsConnection;
  logger: Logger;
  /** JetStream stream to ensure exists (add, or update subjects); file storage, duplicate_window 2 min. */
  stream: { name: string; subjects: string[] };
  /** How large the stream may grow (see StreamLimits). */
  streamLimits?: StreamLimits;
  /** e.g. project.<pid>.ev.chat.MessagePosted */
  subjectFor: (e: RecordedEvent) => string;
  /**
   * Whether an event is published (default: every one). One for which this is false stays in the
   * store only (the service's own bookkeeping, which no other process reads): the relay passes
   * over it in order, its checkpoint moving past it, and publishes nothing for it.
   */
  publishes?: (e: RecordedEvent) => boolean;
  /** default 256 */
  batchSize?: number;
  /** Fallback poll, default 1000 (LISTEN/NOTIFY wakes it sooner). */
  pollIntervalMs?: number;
  /** How often a standby tries to become leader; default 2000. */
  leaderRetryMs?: number;
  /**
   * The checkpoint is saved at most this often (default 200 ms; 0: after every batch) and when the
   * relay stops. A leader that dies re-publishes what it published since its last save, which the
   * broker drops as duplicates (the save interval is far inside the de-duplication window).
   */
  checkpointIntervalMs?: number;
  /**
   * Committed events are read only below the oldest transaction still running anywhere in the
   * cluster (see readAllEvents), so one long-open transaction holds every relay back. When the
   * oldest waiting event has waited this long (default 10 s), the relay logs a warning naming the
   * oldest open transactions it can see, and again each time as long again passes.
   */
  heldBackWarnMs?: number;
  /** Test hook: called after JetStream acked an event but before the checkpoint is saved. */
  afterPublish?: (e: RecordedEvent) => void | Promise<void>;
  /** Called for an event given up on (recorded in dead_letters): counters, alarms. */
  onDeadLetter?: (e: RecordedEvent) => void;
  /**
   * How long startOutboxRelay waits for JetStream to answer while a cluster forms (timeouts, no
   * meta leader, not enough peers yet) before giving up with a JetStreamNotReadyError; default
   * 120 s. A configuration JetStream refuses (conflicting settings, no permission) fails at once.
   */
  jetStreamReadyTimeoutMs?: number;
}

export interface OutboxRelay {
  stop(): Promise<void>;
  /** Resolves when everything committed before the call has been published (default timeout 30 s). */
  flush(timeoutMs?: number): Promise<void>;
  readonly isLeader: boolean;
  /** Since when the oldest committed event has been waiting behind an open transaction (ms epoch), or null. */
  readonly heldBackSince: number | null;
}

/** An open transaction that holds the relay back, as pg_stat_activity shows it. */
interface Blocker {
  pid: number;
  database: string | null;
  user: string | null;
  application: string | null;
  state: string | null;
  transaction_age_s: number | null;
  query: string | null;
}

/** The JetStream de-duplication window: a re-publish after a crash must land within it. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const FLUSH_POLL_MS = 20;
/**
 * While committed events wait behind an open transaction, the relay reads again after this long,
 * doubling up to its poll interval. The transaction holding them back may be any in the cluster
 * (another schema's, another database's), and its end wakes nobody here: waiting for the poll
 * (1 s by default, a minute in a test) left announced events unpublished that long.
 */
const HELD_BACK_RETRY_MIN_MS = 100;

/**
 * Publishes the store's events to JetStream in global order, at least once, with
 * `Nats-Msg-Id` = event id so the broker drops re-publications: a crash between commit and publish,
 * or between publish and checkpoint, delays an event but neither loses nor duplicates it.
 * One relay per schema publishes (the holder of a session advisory lock); the others stand by.
 */
export async function startOutboxRelay(opts: OutboxRelayOptions): Promise<OutboxRelay> {
  const relay = new Relay(opts);
  // A misconfigured stream fails the boot, not silently later; a JetStream cluster still forming
  // (a 3-replica stream needs a meta leader and its peers) is waited for, within a bound.
  await relay.ensureStreamWhenReady();
  await relay.start();
  return relay;
}

/** Committed events the relay has not published yet. */
export interface OutboxLag {
  /** How many (counted up to a bound, so a far-behind relay does not make the read slow). */
  events: number;
  /** Age of the oldest of them in seconds; 0 when there are none. */
  oldestAgeSeconds: number;
}

const OUTBOX_LAG_COUNT_BOUND = 100_000;

/**
 * What waits in the outbox beyond the relay's saved checkpoint (saved at most every
 * checkpointIntervalMs, so a few hundred milliseconds of lag show even when all is well). Read by
 * metrics on scrape, from any instance, leader or not.
 */
export async function readOutboxLag(store: EventStore, streamName: string): Promise<OutboxLag> {
  const s = storeSchema(store.schema);
  const { rows } = await store.pool.query<{ events: number; oldest_age_s: number }>(
    `WITH c AS (
       SELECT COALESCE((SELECT transaction_id FROM ${s.checkpoints} WHERE name = $1), '0'::xid8) AS transaction_id,
              COALESCE((SELECT global_position FROM ${s.checkpoints} WHERE name = $1), 0) AS global_position
     ), waiting AS (
       SELECT e.occurred_at FROM ${s.events} e, c
        WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
        ORDER BY e.transaction_id, e.global_position
        LIMIT $2
     )
     SELECT count(*)::int AS events, COALESCE(extract(epoch FROM clock_timestamp() - min(occurred_at)), 0)::float8 AS oldest_age_s FROM waiting`,
    [streamName, OUTBOX_LAG_COUNT_BOUND],
  );
  const row = rows[0];
  return { events: row?.events ?? 0, oldestAgeSeconds: Math.max(0, row?.oldest_age_s ?? 0) };
}

/**
 * How large a service's stream may grow. The stream is how events travel, not where they are kept
 * (that is Postgres): when full, the oldest events are dropped (`discard: old`), so publishing and
 * realtime never stop; a durable consumer further behind than that misses the dropped ones.
 */
export interface StreamLimits {
  /** Bytes the stream may hold (JetStream `max_bytes`); 0 or absent: no bound. */
  maxBytes?: number;
  /** How long an event stays (JetStream `max_age`); 0 or absent: no bound. */
  maxAgeMs?: number;
  /** Copies of the stream on a NATS cluster (JetStream `num_replicas`, at most the nodes); absent: left as it is (1 when created). */
  replicas?: number;
}

/** Ensures the stream exists with our subjects, de-duplication window and limits; other instances may race us. */
export async function ensureStream(
  jsm: JetStreamManager,
  stream: { name: string; subjects: string[] },
  limits: StreamLimits = {},
): Promise<void> {
  const duplicate_window = nanos(DUPLICATE_WINDOW_MS);
  const max_bytes = limits.maxBytes && limits.maxBytes > 0 ? limits.maxBytes : -1;
  const max_age = limits.maxAgeMs && limits.maxAgeMs > 0 ? nanos(limits.maxAgeMs) : 0;
  const replicas = limits.replicas === undefined ? {} : { num_replicas: limits.replicas };
  const bounded = { duplicate_window, max_bytes, max_age, discard: DiscardPolicy.Old, ...replicas };
  for (let attempt = 1; ; attempt++) {
    try {
      const { config } = await jsm.streams.info(stream.name);
      // A stream without subjects (a mirror, say) comes back without the field, whatever its type says.
      const subjectsMatch = sameSet(config.subjects, stream.subjects);
      if (
        !subjectsMatch ||
        config.duplicate_window !== duplicate_window ||
        config.max_bytes !== max_bytes ||
        config.max_age !== max_age ||
        config.discard !== DiscardPolicy.Old ||
        (limits.replicas !== undefined && config.num_replicas !== limits.replicas)
      ) {
        await jsm.streams.update(stream.name, { subjects: stream.subjects, ...bounded });
      }
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    }
    try {
      await jsm.streams.add({ name: stream.name, subjects: stream.subjects, storage: StorageType.File, ...bounded });
      return;
    } catch (err) {
      if (attempt >= 3) throw err; // otherwise another instance created it first: look again
    }
  }
}

class Relay implements OutboxRelay {
  readonly #opts: OutboxRelayOptions;
  readonly #s: StoreSchema;
  readonly #pool: Queryable;
  readonly #log: Logger;
  readonly #js: JetStreamClient;
  readonly #checkpointName: string;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #leaderRetryMs: number;
  /** Woken by NOTIFY or this process's commits (new commits), flush() and stop(). */
  readonly #nudge = new Wakeup();
  /** Woken by stop() only: retry and back-off sleeps. */
  readonly #idle = new Wakeup();

  #stopped = false;
  #loop: Promise<void> = Promise.resolve();
  /** Ends this relay's attachment to its store (start attaches it). */
  #detach: () => void = () => {};
  /** Holds the advisory lock and LISTENs; its loss ends leadership. */
  #session: pg.Client | null = null;
  #leader = false;
  #checkpoint: GlobalCheckpoint = START;
  /** The last event published and not yet saved as the checkpoint. */
  #unsaved: RecordedEvent | null = null;
  #savedAt = 0;
  readonly #checkpointIntervalMs: number;
  #streamReady = false;
  readonly #heldBackWarnMs: number;
  readonly #publishes: (e: RecordedEvent) => boolean;
  /** The oldest committed event seen waiting behind an open transaction, and since when. */
  #heldBack: { event: GlobalCheckpoint; since: number; warnedAt: number | null } | null = null;
  #heldBackCheckedAt = 0;
  /** A commit was announced (NOTIFY) since the last read began. */
  #announced = false;
  /** While a read after an announcement found nothing (its events held back): when to read again, backing off; null otherwise. */
  #heldBackRetryMs: number | null = null;

  constructor(opts: OutboxRelayOptions) {
    this.#opts = opts;
    this.#s = storeSchema(opts.store.schema);
    this.#pool = opts.store.pool;
    this.#log = opts.logger.child({ component: 'outbox-relay', schema: this.#s.name, stream: opts.stream.name });
    this.#js = jetstream(opts.nats);
    this.#checkpointName = opts.stream.name;
    this.#batchSize = opts.batchSize ?? 256;
    this.#pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.#leaderRetryMs = opts.leaderRetryMs ?? 2000;
    this.#checkpointIntervalMs = opts.checkpointIntervalMs ?? 200;
    this.#heldBackWarnMs = opts.heldBackWarnMs ?? 10_000;
    this.#publishes = opts.publishes ?? (() => true);
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** Commits of this process's store, made without a NOTIFY while this relay leads (EventStore.attachLocalRelay). */
  wake(): void {
    this.#announced = true;
    this.#nudge.wake();
  }

  get heldBackSince(): number | null {
    return this.#heldBack?.since ?? null;
  }

  async ensureStream(): Promise<void> {
    await ensureStream(await jetstreamManager(this.#opts.nats), this.#opts.stream, this.#opts.streamLimits);
    this.#streamReady = true;
  }

  /** ensureStream, asked again while JetStream answers "not yet" (see retryWhileJetStreamForms). */
  async ensureStreamWhenReady(): Promise<void> {
    await retryWhileJetStreamForms(`creating or checking the stream ${this.#opts.stream.name}`, () => this.ensureStream(), {
      logger: this.#log,
      ...(this.#opts.jetStreamReadyTimeoutMs === undefined ? {} : { timeoutMs: this.#opts.jetStreamReadyTimeoutMs }),
      stopped: () => this.#stopped,
    });
  }

  /** Starts the loop; resolves after the first leadership attempt, so `isLeader` is meaningful. */
  start(): Promise<void> {
    this.#detach = this.#opts.store.attachLocalRelay(this);
    // A back-off sleep must not outlast a NATS outage: when the connection comes back, retry now.
    void (async () => {
      for await (const status of this.#opts.nats.status()) {
        if (this.#stopped) break;
        if (status.type === 'reconnect') this.#idle.wake();
      }
    })().catch(() => undefined);
    return new Promise((firstAttemptDone) => {
      this.#loop = this.#run(firstAttemptDone);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#detach();
    this.#nudge.wake();
    this.#idle.wake();
    await this.#loop;
  }

  async flush(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const target = await readLastPosition(this.#pool, this.#s);
    if (!target) return;
    this.#nudge.wake();
    for (;;) {
      const done = await this.#readCheckpoint();
      if (compareCheckpoints(done, target) >= 0) return;
      if (Date.now() >= deadline) {
        throw new Error(`outbox flush timed out after ${timeoutMs} ms: published up to ${fmt(done)}, waiting for ${fmt(target)}`);
      }
      await sleep(FLUSH_POLL_MS);
    }
  }

  async #run(firstAttemptDone: () => void): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!this.#stopped) {
      try {
        if (!this.#leader) {
          const won = await this.#tryToLead();
          firstAttemptDone();
          if (!won) {
            await this.#idle.wait(this.#leaderRetryMs);
            continue;
          }
        }
        if (!this.#streamReady) await this.ensureStream();
        const announced = this.#announced;
        this.#announced = false;
        const published = await this.#publishBatch();
        // A commit was announced and the read found nothing: its events wait behind an open
        // transaction, whose end announces nothing here. Read again soon, backing off.
        if (published > 0) this.#heldBackRetryMs = null;
        else if (announced) this.#heldBackRetryMs = HELD_BACK_RETRY_MIN_MS;
        if (this.#unsaved && Date.now() - this.#savedAt >= this.#checkpointIntervalMs) await this.#saveCheckpoint();
        backoff = BACKOFF_MIN_MS;
        if (published < this.#batchSize) {
          await this.#watchHeldBack();
          // Idle: wake for new commits, and in time to save a checkpoint that is due.
          const saveDueIn = this.#unsaved ? Math.max(0, this.#checkpointIntervalMs - (Date.now() - this.#savedAt)) : Infinity;
          await this.#nudge.wait(Math.min(this.#pollIntervalMs, saveDueIn, this.#heldBackRetryIn()));
        }
      } catch (err) {
        firstAttemptDone();
        if (this.#isStopped()) break;
        this.#log.warn({ err, retryInMs: backoff }, 'outbox relay failed; retrying');
        // A query the server never answered (stopped, or a half-open connection) leaves the session
        // unusable: drop it, and leadership with it, so the server's keepalive can free the lock.
        if (err instanceof Error && /^Query read timeout/.test(err.message)) await this.#endSession({ unlock: false });
        await this.#idle.wait(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
    firstAttemptDone();
    if (this.#leader && this.#unsaved)
      await this.#saveCheckpoint().catch((err: unknown) => this.#log.warn({ err }, 'could not save the checkpoint at stop'));
    await this.#endSession();
  }

  async #tryToLead(): Promise<boolean> {
    const session = this.#session ?? (await this.#openSession());
    const { rows } = await session.query<{ won: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS won', [
      lockKey('outbox', this.#s),
    ]);
    if (!rows[0]?.won) return false;
    try {
      await session.query(`LISTEN "${this.#s.channel}"`);
      this.#checkpoint = await this.#readCheckpoint();
      this.#unsaved = null; // anything of an earlier leadership is behind the saved checkpoint or re-published
      this.#heldBack = null;
    } catch (err) {
      // Locks are re-entrant per session: drop the session so a retry starts from a clean slate.
      await this.#endSession();
      throw err;
    }
    if (this.#session !== session) return false; // the session died meanwhile
    this.#leader = true;
    this.#log.info({ checkpoint: this.#checkpoint }, 'outbox relay is leader');
    return true;
  }

  /**
   * Publishes one batch in order; checkpoints only what JetStream acknowledged. The publishes are
   * pipelined: all of them go out on the one connection in order (so the stream stores them in
   * order) before the acks are awaited, in order, instead of one round trip per event. An event
   * whose ack fails ends the batch at the one before it; whatever was stored after it is published
   * again and dropped by the broker's de-duplication (same `Nats-Msg-Id`).
   */
  async #publishBatch(): Promise<number> {
    // On the leader's own session, not the pool: a service whose pool is busy with queued commands
    // must not starve the relay that delivers what those commands committed.
    const events = await readAllEvents(this.#leaderDb(), this.#s, { after: this.#checkpoint, limit: this.#batchSize });
    if (events.length === 0 || !this.#leader || this.#stopped) return events.length;
    const published = events.map((event) => ({ event, ack: this.#publishes(event) ? this.#publish(event) : null }));
    for (const { ack } of published) ack?.catch(() => undefined); // each is awaited below, or abandoned after a failure
    let last: RecordedEvent | undefined;
    try {
      for (const { event, ack } of published) {
        // Kept in the store only: passed over, in order (the checkpoint moves past it).
        if (ack === null) {
          last = event;
          continue;
        }
        try {
          await ack;
        } catch (err) {
          // An event no retry can publish (larger than the server takes, say) would hold up every
          // event behind it, for every project: it becomes a dead letter, and the relay moves on.
          if (err instanceof InvalidArgumentError) {
            await this.#deadLetter(event, err);
          } else {
            this.#streamReady = false; // the stream may be gone: ensure it before the next batch
            throw err;
          }
        }
        await this.#opts.afterPublish?.(event);
        last = event;
        if (!this.#isLeading() || this.#isStopped()) break;
      }
    } finally {
      if (last) {
        this.#checkpoint = { transactionId: last.transactionId, globalPosition: last.globalPosition };
        this.#unsaved = last;
      }
    }
    return events.length;
  }

  /**
   * Publishes one event. With tracing on, the publish is a span, child of the append that stored the
   * event (its trace context is in the event's metadata), ended when JetStream acknowledges; its own
   * context goes in the message's headers, so every gateway's fan-out continues the trace.
   */
  #publish(e: RecordedEvent) {
    const subject = this.#opts.subjectFor(e);
    const data = JSON.stringify(toPublishedEvent(e));
    if (!tracingEnabled()) return this.#js.publish(subject, data, { msgID: e.eventId });
    const span = startSpan(`publish ${this.#opts.stream.name}`, {
      kind: SpanKind.PRODUCER,
      parent: contextFromFields(e.metadata),
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.destination.name': subject,
        'messaging.message.id': e.eventId,
        'siteflow.event_type': e.type,
        'siteflow.stream_id': e.streamId,
      },
    });
    const headers = natsHeaders();
    if (span) withSpan(span, () => injectHeaders(headers));
    const ack = this.#js.publish(subject, data, { msgID: e.eventId, headers });
    ack.then(
      () => span?.end(),
      (err: unknown) => {
        failed(span, err);
        span?.end();
      },
    );
    return ack;
  }

  /** Read through a method: stop() sets it while the loop awaits, which type narrowing cannot see. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  /** The same for leadership, which a lost session ends meanwhile. */
  #isLeading(): boolean {
    return this.#leader;
  }

  async #deadLetter(e: RecordedEvent, err: Error): Promise<void> {
    const subject = this.#opts.subjectFor(e);
    const payload = JSON.stringify(toPublishedEvent(e));
    await this.#opts.store.recordDeadLetter({
      source: 'outbox',
      subject,
      position: `${e.transactionId}/${e.globalPosition}`,
      reason: `cannot be published: ${err.message}`,
      payload: payload.slice(0, 64 * 1024),
    });
    this.#opts.onDeadLetter?.(e);
    this.#log.error(
      {
        eventId: e.eventId,
        type: e.type,
        subject,
        project: e.projectId,
        stream: e.streamId,
        trace: traceIdFromFields(e.metadata),
        bytes: Buffer.byteLength(payload),
        err,
      },
      'event cannot be published; recorded in dead_letters and skipped',
    );
  }

  async #readCheckpoint(): Promise<GlobalCheckpoint> {
    const { rows } = await this.#pool.query<{ transaction_id: string; global_position: string }>(
      `SELECT transaction_id::text AS transaction_id, global_position FROM ${this.#s.checkpoints} WHERE name = $1`,
      [this.#checkpointName],
    );
    const row = rows[0];
    return row ? { transactionId: row.transaction_id, globalPosition: Number(row.global_position) } : START;
  }

  /** The session holding the leader's advisory lock (reads and checkpoints go through it). */
  #leaderDb(): Queryable {
    const session = this.#session;
    if (!session) throw new Error('the outbox relay has no database session');
    return session;
  }

  async #saveCheckpoint(): Promise<void> {
    const e = this.#unsaved;
    if (!e) return;
    // Never moves backwards, even if a deposed leader writes late.
    await this.#leaderDb().query(
      `INSERT INTO ${this.#s.checkpoints} AS c (name, transaction_id, global_position) VALUES ($1, $2::xid8, $3)
       ON CONFLICT (name) DO UPDATE
         SET transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position, updated_at = now()
         WHERE (c.transaction_id, c.global_position) < (EXCLUDED.transaction_id, EXCLUDED.global_position)`,
      [this.#checkpointName, e.transactionId, e.globalPosition],
    );
    if (this.#unsaved === e) this.#unsaved = null;
    this.#savedAt = Date.now();
  }

  async #openSession(): Promise<pg.Client> {
    const { pool } = this.#opts.store;
    // The pool's settings (its timeouts and keepalive, see createPostgresPool), and keepalive in any case:
    // this session holds leadership, and a dead one must let go of it within seconds, not hours.
    const client = new pg.Client({
      ...pool.options,
      keepAlive: true,
      keepAliveInitialDelayMillis: pool.options.keepAliveInitialDelayMillis || DEFAULT_POSTGRES_TIMEOUTS.keepAliveIdleMs,
      application_name: `outbox-relay:${this.#s.name}`,
    });
    const lost = (err?: Error) => {
      if (this.#session !== client) return;
      this.#session = null;
      if (this.#leader) this.#log.warn({ err }, 'outbox relay lost its database session; no longer leader');
      this.#leader = false;
      this.#nudge.wake();
    };
    client.on('error', (err) => {
      lost(err);
      client.end().catch(() => {});
    });
    client.on('end', () => lost());
    client.on('notification', () => {
      this.#announced = true;
      this.#nudge.wake();
    });
    await client.connect();
    // This session writes only checkpoints: one lost in a database crash means re-publishing a
    // moment's events, which the broker de-duplicates, so their commits need not wait for the disk.
    await client.query('SET synchronous_commit TO off');
    this.#session = client;
    return client;
  }

  /**
   * How soon to read again for events held back behind an open transaction; Infinity when none
   * are. Each call doubles the next, up to the poll interval, where the retries end.
   */
  #heldBackRetryIn(): number {
    const ms = this.#heldBackRetryMs;
    if (ms === null) return Infinity;
    this.#heldBackRetryMs = ms * 2 >= this.#pollIntervalMs ? null : ms * 2;
    return ms;
  }

  /**
   * Notices, and says, when committed events have waited too long behind an open transaction.
   * Runs when the relay is idle (it published all it may read), at most every second.
   */
  async #watchHeldBack(): Promise<void> {
    const now = Date.now();
    if (now - this.#heldBackCheckedAt < Math.min(1_000, this.#heldBackWarnMs / 2)) return;
    this.#heldBackCheckedAt = now;
    const held = this.#heldBack;
    if (held && compareCheckpoints(this.#checkpoint, held.event) >= 0) {
      if (held.warnedAt !== null) this.#log.info({ heldBackMs: now - held.since }, 'outbox relay is no longer held back');
      this.#heldBack = null;
    }
    if (!this.#heldBack) {
      // Everything readable was just read: a committed event beyond the checkpoint waits for the
      // horizon (or was committed a moment ago and is read next round).
      const { rows } = await this.#leaderDb().query<{ transaction_id: string; global_position: string }>(
        prepared(
          `SELECT transaction_id::text AS transaction_id, global_position FROM ${this.#s.events}
            WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
            ORDER BY transaction_id, global_position LIMIT 1`,
          [this.#checkpoint.transactionId, this.#checkpoint.globalPosition],
        ),
      );
      const row = rows[0];
      if (row)
        this.#heldBack = {
          event: { transactionId: row.transaction_id, globalPosition: Number(row.global_position) },
          since: now,
          warnedAt: null,
        };
      return;
    }
    const waited = now - this.#heldBack.since;
    const lastWarned = this.#heldBack.warnedAt ?? this.#heldBack.since;
    if (waited < this.#heldBackWarnMs || now - lastWarned < this.#heldBackWarnMs) return;
    this.#heldBack.warnedAt = now;
    const blockers = await this.#oldestOpenTransactions().catch(() => [] as Blocker[]);
    const oldest = blockers[0];
    this.#log.warn(
      { heldBackMs: waited, waitingEvent: this.#heldBack.event, blockers },
      oldest
        ? `outbox relay held back ${Math.round(waited / 1000)} s by an open transaction (pid ${oldest.pid}, open ${oldest.transaction_age_s ?? '?'} s): events are published once it ends`
        : `outbox relay held back ${Math.round(waited / 1000)} s by an open transaction this role cannot see (another role's session needs pg_read_all_stats to be shown; or a prepared transaction, see pg_prepared_xacts)`,
    );
  }

  /**
   * The oldest transactions holding a transaction id (what the horizon waits for), oldest first. Other
   * roles' sessions show their details only to a role with pg_read_all_stats.
   */
  async #oldestOpenTransactions(): Promise<Blocker[]> {
    const { rows } = await this.#leaderDb().query<Blocker>(
      `SELECT pid, datname AS database, usename AS "user", application_name AS application, state,
              round(extract(epoch FROM clock_timestamp() - xact_start)::numeric, 1)::float8 AS transaction_age_s,
              left(query, 200) AS query
         FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
        ORDER BY age(backend_xid) DESC
        LIMIT 3`,
    );
    return rows;
  }

  /** `unlock: false` for a session that no longer answers: closing it is all that is left. */
  async #endSession({ unlock = true } = {}): Promise<void> {
    const session = this.#session;
    this.#session = null;
    this.#leader = false;
    if (!session) return;
    if (unlock) {
      try {
        await session.query('SELECT pg_advisory_unlock_all()');
      } catch {
        // closing the session releases the lock anyway
      }
    }
    await session.end().catch(() => {});
  }
}

/** A one-waiter wake-up signal: `wait` resolves on `wake` or after `ms`; a wake with nobody waiting is kept. */
class Wakeup {
  #pending = false;
  #resolve: (() => void) | null = null;

  wake(): void {
    if (this.#resolve) this.#resolve();
    else this.#pending = true;
  }

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#resolve = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#resolve = done;
    });
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const fmt = (c: GlobalCheckpoint) => `(${c.transactionId}, ${c.globalPosition})`;
const sameSet = (a: string[] | undefined, b: string[]) => a !== undefined && a.length === b.length && a.every((x) => b.includes(x));
