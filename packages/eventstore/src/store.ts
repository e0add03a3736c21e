import type { Pool, PoolClient, QueryConfig, QueryResult } from 'pg';
import type { Logger } from 'pino';
import { inSpan, SpanKind, traceFields, tracingEnabled } from '@siteflow/telemetry';
import { ConcurrencyError } from './errors.js';
import { appendToStream, appendToStreams, isRidingConflict, observeRidingAppends, ridingAppend, type StreamAppendQuery } from './append.js';
import { currentIdempotencyScope, IdempotencyKeyReused, RecordedOutcome } from './idempotency.js';
import { asExecute, prepared } from './prepared.js';
import { migrate } from './migrate.js';
import {
  readAllEvents,
  readManyStreamEvents,
  readStreamEvents,
  readStreamQuery,
  readStreamVersion,
  toRecordedEvent,
  type AppendedRow,
  type EventRow,
} from './read.js';
import { storeSchema, type StoreSchema } from './schema.js';
import { timeRoundTrips, transactionObserver } from './transaction-timing.js';
import type { EventStore, EventStoreTx, LocalRelay, RecordedEvent, TransactionOptions } from './types.js';

/**
 * A transaction locked an existing stream, or appended to it, without having reserved it before its
 * first write (docs/consistency.md, rule 3): its transaction id may be older than that of a writer
 * of this stream it waited for, and the relay would publish its later version first. The pipeline
 * runs the transaction again (the streams a command declares may have changed since it read them:
 * a removed member took another document lock meanwhile); a command that never declares the stream
 * fails every time, which is a programming error.
 */
export class StreamNotReserved extends Error {
  override readonly name = 'StreamNotReserved';
  constructor(readonly streamId: string) {
    super(
      `stream ${streamId} exists and was not reserved before the transaction's first write: reserve every stream a transaction writes (tx.reserveStreams, or the command's alsoWrites) before it writes anything`,
    );
  }
}

/**
 * The key of a stream's advisory lock: \`<schema>:stream:<id>\`, a key space of its own (idempotency
 * keys are \`<schema>:<user id>:<key>\`, the migration and relay locks \`siteflow:<purpose>:<schema>\`).
 */
export function streamLockKey(s: StoreSchema, streamId: string): string {
  return `${s.name}:stream:${streamId}`;
}

/** The event store of one service, in its own Postgres schema (run `migrate()` once at boot). */
export function createEventStore(opts: {
  pool: Pool;
  schema: string;
  logger?: Logger;
  /** Statement bound of migrations (default 10 minutes); commands use the pool's. */
  migrationTimeoutMs?: number;
  /**
   * Called with a transaction's appended events, in append order, once its COMMIT has succeeded
   * (not after a rollback, nor when the COMMIT's outcome is unknown): the service's fast copy of
   * them (docs/event-store.md, "Fast copies"). Must not throw; a throw is logged and ignored (the
   * events are committed: the relay publishes them whatever happens here).
   */
  afterCommit?: (events: readonly RecordedEvent[]) => void;
}): EventStore {
  const { pool, logger } = opts;
  const s = storeSchema(opts.schema);
  // This process's relays of the schema (one, in a service). While one leads, commits wake it here
  // instead of through a NOTIFY, which Postgres would signal to every LISTENing session of the
  // database, whatever its channel (docs/event-store.md, "The outbox relay").
  const localRelays = new Set<LocalRelay>();
  const localLeader = () => {
    for (const r of localRelays) if (r.isLeader) return r;
    return null;
  };

  return {
    schema: s.name,
    pool,
    migrate: (readModelMigrations = []) => migrate(pool, s, readModelMigrations, logger, opts.migrationTimeoutMs),

    transaction: (fn, txOpts) => run('BEGIN', fn, currentIdempotencyScope(), txOpts),
    attachLocalRelay(relay) {
      localRelays.add(relay);
      return () => void localRelays.delete(relay);
    },
    // Reads in one consistent snapshot: the read models and the stream versions they reflect agree.
    snapshot: (fn) => run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn),

    readStream: (streamId, readOpts) => readStreamEvents(pool, s, streamId, readOpts?.fromVersion),
    streamVersion: (streamId) => readStreamVersion(pool, s, streamId),
    readAll: (readOpts) => readAllEvents(pool, s, readOpts),
    async recordDeadLetter(letter) {
      await pool.query(`INSERT INTO ${s.deadLetters} (source, subject, position, reason, payload) VALUES ($1, $2, $3, $4, $5)`, [
        letter.source,
        letter.subject ?? null,
        letter.position ?? null,
        letter.reason,
        letter.payload ?? null,
      ]);
    },
    async pruneOutcomes(olderThanMs) {
      const { rowCount } = await pool.query(
        `DELETE FROM ${s.outcomes} WHERE recorded_at < now() - make_interval(secs => $1::double precision / 1000)`,
        [olderThanMs],
      );
      return rowCount ?? 0;
    },
  };

  function afterCommit(events: readonly RecordedEvent[]): void {
    try {
      opts.afterCommit?.(events);
    } catch (err) {
      logger?.warn({ err, events: events.length }, 'afterCommit failed (the relay still publishes the events)');
    }
  }

  async function run<T>(
    begin: string,
    fn: (tx: EventStoreTx) => Promise<T>,
    idempotency?: ReturnType<typeof currentIdempotencyScope>,
    txOpts: TransactionOptions = {},
  ): Promise<T> {
    // Where the transaction's time goes, when the service's metrics observe it (docs/operations.md).
    const observer = transactionObserver();
    const asked = observer ? performance.now() : 0;
    const client = await pool.connect();
    const granted = observer ? performance.now() : 0;
    const trips = observer ? timeRoundTrips(client) : null;
    let committed = false;
    // The connection may die while the client is ours (between two statements, or while `fn`
    // awaits something else): `pg` then emits 'error', which must not go unheard.
    let broken: Error | undefined;
    const onError = (err: Error) => (broken ??= err);
    client.on('error', onError);
    // Streams whose advisory lock this transaction holds, and those of them it took before it had a
    // transaction id (only those keep the relay's order: docs/consistency.md, rule 3).
    const held = new Set<string>();
    const ordered = new Set<string>();
    const reserveStreams = async (streamIds: readonly string[]) => {
      const fresh = [...new Set(streamIds)].filter((id) => !held.has(id)).sort();
      if (fresh.length === 0) return;
      // One order everywhere (sorted ids), so two transactions reserving overlapping sets cannot
      // deadlock. Advisory locks write nothing: no transaction id is taken here.
      const { rows } = await client.query<{ assigned: boolean }>(
        prepared(
          `SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS assigned
             FROM (SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest($1::text[]) AS k) AS locked`,
          [fresh.map((id) => streamLockKey(s, id))],
        ),
      );
      const assigned = rows[0]?.assigned ?? true;
      for (const id of fresh) {
        held.add(id);
        if (!assigned) ordered.add(id);
      }
    };
    // What the reservation-and-lock statement found (lockStream, or BEGIN's round trip for txOpts.lockStream).
    const reservedAndLocked = (streamId: string, row: ReservedLock | undefined): number | null => {
      held.add(streamId);
      if (row?.assigned === false) ordered.add(streamId);
      return row?.version ?? null;
    };
    // Versions of streams whose rows `lockStreams` locked (0: no row yet), kept as this transaction
    // appends; and events `readStreams` read ahead, until the stream is appended to.
    const locked = new Map<string, number>();
    const readAhead = new Map<string, RecordedEvent[]>();
    // What this transaction appended, for `afterCommit` (kept only when someone listens).
    const appended: RecordedEvent[] | null = opts.afterCommit ? [] : null;
    const lockStream = async (streamId: string) => {
      const known = locked.get(streamId);
      if (known !== undefined) return known;
      let version: number | null;
      if (held.has(streamId)) {
        const { rows } = await client.query<{ version: number }>(
          prepared(`SELECT version FROM ${s.streams} WHERE stream_id = $1 FOR UPDATE`, [streamId]),
        );
        version = rows[0]?.version ?? null;
      } else {
        // The reservation and the row lock in one statement (one round trip, as before there was a
        // reservation): the aggregate takes the advisory lock, and only then, as its row is
        // projected, is the scalar subquery evaluated (Postgres runs an InitPlan on first use) and
        // the row locked. stream-reservation.int.spec.ts checks that a writer waiting here has no
        // transaction id.
        const { rows } = await client.query<ReservedLock>(
          prepared(reserveAndLockSql(s, '$1', '$2'), [streamId, streamLockKey(s, streamId)]),
        );
        version = reservedAndLocked(streamId, rows[0]);
      }
      // A stream nobody created yet (no row) is exempt: nobody else can have written it, and a
      // concurrent creator fails on the insert of its row.
      if (version !== null && !ordered.has(streamId)) throw new StreamNotReserved(streamId);
      return version ?? 0;
    };
    const lockStreams = async (streamIds: readonly string[]) => {
      await reserveStreams(streamIds);
      const fresh = [...new Set(streamIds)].filter((id) => !locked.has(id)).sort();
      if (fresh.length > 0) {
        const { rows } = await client.query<{ stream_id: string; version: number }>(
          prepared(`SELECT stream_id, version FROM ${s.streams} WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE`, [fresh]),
        );
        const found = new Map(rows.map((r) => [r.stream_id, r.version]));
        for (const id of fresh) {
          const version = found.get(id) ?? null;
          // As lockStream: an existing stream reserved after the transaction's first write is out of order.
          if (version !== null && !ordered.has(id)) throw new StreamNotReserved(id);
          locked.set(id, version ?? 0);
        }
      }
      return new Map(streamIds.map((id) => [id, locked.get(id) ?? 0]));
    };
    const readStreams = async (streamIds: readonly string[]) => {
      const fresh = [...new Set(streamIds)].filter((id) => !readAhead.has(id));
      // A stream locked without a row has no events, and none can appear while this transaction
      // holds its reservation: nothing to ask (a join's new session; a storm's group commits).
      for (const id of fresh) if (locked.get(id) === 0) readAhead.set(id, []);
      const toRead = fresh.filter((id) => locked.get(id) !== 0);
      if (toRead.length === 0) return;
      const events = await readManyStreamEvents(client, s, toRead);
      for (const id of toRead) readAhead.set(id, []);
      for (const e of events) readAhead.get(e.streamId)?.push(e);
    };
    // Whether this transaction's appends NOTIFY the relay: not while this process's own relay
    // leads; that one is woken after COMMIT. Asked at each append (leadership may move).
    const wakeAfterCommit: { relay: LocalRelay | null } = { relay: null };
    const notifies = () => {
      const leader = localLeader();
      if (leader) wakeAfterCommit.relay = leader;
      return leader === null;
    };
    // Statements to run in COMMIT's round trip, and what to tell of their results.
    const atCommit: { query: QueryConfig<unknown[]>; then: ((result: QueryResult) => void) | undefined }[] = [];
    // Appends to run first in COMMIT's round trip (appendAtCommit), in the order made.
    const riding: { streamId: string; expected: number; append: StreamAppendQuery; events: number }[] = [];
    // A riding append inserts every event or fails (its guard): a short result is a bug, refused
    // while the transaction can still roll back.
    const ridingRecorded = (r: (typeof riding)[number], result: QueryResult | undefined) => {
      const recorded = r.append.recorded((result?.rows ?? []) as AppendedRow[]);
      if (recorded.length !== r.events) throw new Error(`stream ${r.streamId}: ${r.events} events appended, ${recorded.length} returned`);
      appended?.push(...recorded);
    };
    const ridingConflict = (err: unknown, sent: readonly (typeof riding)[number][]) => {
      const first = sent[0];
      return first && isRidingConflict(err)
        ? new ConcurrencyError(first.streamId, first.expected === 0 ? 'no_stream' : first.expected, -1)
        : err;
    };
    // Before anything else in the transaction reads or writes streams through the store, the
    // riding appends are sent on their own: what it then reads includes them.
    const sendRiding = async () => {
      if (riding.length === 0) return;
      const sent = riding.splice(0);
      const started = performance.now();
      let results: QueryResult[];
      try {
        results = await withStatements(
          client,
          null,
          sent.map((r) => r.append.query),
          null,
        );
      } catch (err) {
        throw ridingConflict(err, sent);
      }
      observeRidingAppends(
        (performance.now() - started) / 1000,
        sent.reduce((n, r) => n + r.events, 0),
      );
      sent.forEach((r, i) => ridingRecorded(r, results[i]));
    };
    const tx: EventStoreTx = {
      client,
      first: null,
      atCommit: (query, then) => void atCommit.push({ query, then }),
      appendAtCommit: async (streamId, events, appendOpts) => {
        const expected = appendOpts.expectedVersion;
        if (!Number.isInteger(expected) || expected < 0) throw new RangeError(`invalid expected version ${String(expected)}`);
        if (events.length === 0) return { nextVersion: expected };
        if (riding.some((r) => r.streamId === streamId)) await sendRiding();
        await reserveStreams([streamId]);
        // As append: an existing stream must have been reserved before the transaction's first write.
        if (expected > 0 && !ordered.has(streamId)) throw new StreamNotReserved(streamId);
        // The span whose child the relay's publish is: the command's, there being no append span.
        const trace = tracingEnabled() ? traceFields() : undefined;
        const stored = trace ? events.map((e) => ({ ...e, metadata: { ...e.metadata, ...trace } })) : events;
        riding.push({
          streamId,
          expected,
          append: ridingAppend(s, streamId, stored, expected, appendOpts.now, notifies()),
          events: events.length,
        });
        if (locked.has(streamId)) locked.set(streamId, expected + events.length);
        readAhead.delete(streamId);
        return { nextVersion: expected + events.length };
      },
      append: async (streamId, events, appendOpts) => {
        await sendRiding();
        await reserveStreams([streamId]);
        const result = await appendToStream(client, s, streamId, events, appendOpts, notifies());
        // The stream existed (its events follow version > 0) and was reserved late.
        if (events.length > 0 && result.nextVersion > events.length && !ordered.has(streamId)) throw new StreamNotReserved(streamId);
        if (locked.has(streamId)) locked.set(streamId, result.nextVersion);
        readAhead.delete(streamId);
        appended?.push(...result.recorded);
        return result;
      },
      readStream: async (streamId, readOpts) => {
        await sendRiding();
        if (readOpts?.forUpdate) await lockStream(streamId);
        const ahead = readAhead.get(streamId);
        if (ahead) {
          const from = readOpts?.fromVersion ?? 1;
          return ahead.filter((e) => e.version >= from);
        }
        return readStreamEvents(client, s, streamId, readOpts?.fromVersion);
      },
      appendToStreams: async (appends) => {
        await sendRiding();
        await reserveStreams(appends.map((a) => a.streamId));
        for (const a of appends) {
          // As append: an existing stream must have been reserved before the first write.
          if (a.expectedVersion > 0 && !ordered.has(a.streamId)) throw new StreamNotReserved(a.streamId);
        }
        const results = await appendToStreams(client, s, appends, notifies());
        appends.forEach((a, i) => {
          if (locked.has(a.streamId)) locked.set(a.streamId, results[i]?.nextVersion ?? a.expectedVersion);
          readAhead.delete(a.streamId);
          appended?.push(...(results[i]?.recorded ?? []));
        });
        return results;
      },
      lockStreams,
      readStreams: async (streamIds) => {
        await sendRiding();
        await readStreams(streamIds);
      },
      streamVersion: async (streamId) => {
        await sendRiding();
        return readStreamVersion(client, s, streamId);
      },
      reserveStreams,
      lockStream,
    };
    try {
      // BEGIN and what such a transaction does first, in one round trip (a simple query of several
      // statements, each with a snapshot of its own, run in order): the idempotency key's lock and
      // its recorded outcome, the command's stream reserved and locked, and what the command reads
      // first (`txOpts.first` or its stream's events, after the lock: exact). Nothing here writes, so no transaction id is
      // taken before the stream is reserved (rule 3).
      const opening: QueryConfig<unknown[]>[] = [];
      if (idempotency) {
        opening.push(
          prepared(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`${s.name}:${idempotency.userId}:${idempotency.key}`]),
          prepared(`SELECT command, outcome FROM ${s.outcomes} WHERE user_id = $1 AND key = $2`, [idempotency.userId, idempotency.key]),
        );
      }
      if (txOpts.lockStream !== undefined) {
        opening.push(prepared(reserveAndLockSql(s, '$1', '$2'), [txOpts.lockStream, streamLockKey(s, txOpts.lockStream)]));
        if (txOpts.first) opening.push(txOpts.first);
        if (txOpts.readStream) opening.push(readStreamQuery(s, txOpts.lockStream, 1));
      }
      const results = await withStatements(client, begin, opening, null);
      let at = 1;
      if (idempotency) {
        const recorded = results[at + 1]?.rows[0] as { command: string; outcome: unknown } | undefined;
        at += 2;
        if (recorded && recorded.command !== idempotency.command) throw new IdempotencyKeyReused(recorded.command);
        if (recorded) throw new RecordedOutcome(recorded.outcome);
      }
      if (txOpts.lockStream !== undefined) {
        const streamId = txOpts.lockStream;
        const version = reservedAndLocked(streamId, results[at]?.rows[0] as ReservedLock | undefined);
        if (version !== null && !ordered.has(streamId)) throw new StreamNotReserved(streamId);
        locked.set(streamId, version ?? 0);
        if (txOpts.first) tx.first = results[++at] ?? null;
        // Read after the lock: what the locked version holds, until the transaction appends to it.
        if (txOpts.readStream) readAhead.set(streamId, ((results[++at]?.rows ?? []) as EventRow[]).map(toRecordedEvent));
      }
      const result = await fn(tx);
      // What rides with COMMIT: the appends made with `appendAtCommit`, the statements given to
      // `atCommit`, then the outcome recorded.
      const sent = riding.splice(0);
      const closing = [...sent.map((r) => r.append.query), ...atCommit.map((c) => c.query)];
      if (idempotency) {
        closing.push(
          prepared(`INSERT INTO ${s.outcomes} (user_id, key, command, outcome) VALUES ($1, $2, $3, $4)`, [
            idempotency.userId,
            idempotency.key,
            idempotency.command,
            JSON.stringify(result ?? null),
          ]),
        );
      }
      const ridingEvents = sent.reduce((n, r) => n + r.events, 0);
      const started = performance.now();
      let committedResults: QueryResult[];
      try {
        committedResults = await commit(client, s.name, closing, ridingEvents);
      } catch (err) {
        throw ridingConflict(err, sent);
      }
      if (sent.length > 0) {
        observeRidingAppends((performance.now() - started) / 1000, ridingEvents);
        // Committed: what came back goes to afterCommit as it is.
        sent.forEach((r, i) => appended?.push(...r.append.recorded((committedResults[i]?.rows ?? []) as AppendedRow[])));
      }
      // Committed: the relay that was not notified reads now (one that lost its leadership
      // meanwhile ignores it; the new leader finds the events by its poll).
      wakeAfterCommit.relay?.wake();
      atCommit.forEach((c, i) => c.then?.(committedResults[sent.length + i] as QueryResult));
      committed = true;
      if (idempotency) idempotency.used = true;
      if (appended !== null && appended.length > 0) afterCommit(appended);
      return result;
    } catch (err) {
      if (!broken) await client.query('ROLLBACK').catch((e: unknown) => (broken ??= e instanceof Error ? e : new Error(String(e))));
      // The command ran before under this key: its outcome, as it was then.
      if (err instanceof RecordedOutcome) {
        if (idempotency) idempotency.used = true;
        return err.outcome as T;
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      if (observer && trips) {
        const { roundTrips, postgresSeconds } = trips.stop();
        try {
          observer({
            kind: begin === 'BEGIN' ? 'command' : 'snapshot',
            committed,
            seconds: (performance.now() - asked) / 1000,
            poolWaitSeconds: (granted - asked) / 1000,
            postgresSeconds,
            roundTrips,
          });
        } catch (err) {
          // A metric must never fail (or hide the outcome of) the transaction it describes.
          logger?.warn({ err }, 'the transaction observer failed');
        }
      }
      // A client whose connection failed, or whose rollback did, is in an unknown state: released
      // with the error, the pool destroys it rather than hand it out again.
      client.release(broken);
    }
  }
}

/**
 * COMMIT, after `before` in the same round trip (a simple query runs its statements in order and
 * stops at the first that fails, so nothing commits then); their results, in order. A span of its
 * own when tracing (what a command's events wait for before the relay sees them).
 */
function commit(client: PoolClient, schema: string, before: QueryConfig<unknown[]>[], ridingEvents: number): Promise<QueryResult[]> {
  if (!tracingEnabled()) return withStatements(client, null, before, 'COMMIT');
  return inSpan(
    'eventstore.commit',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'db.system.name': 'postgresql',
        'db.namespace': schema,
        'db.operation.name': 'COMMIT',
        // Events appended in this round trip (tx.appendAtCommit): no append span of their own.
        ...(ridingEvents > 0 ? { 'siteflow.events': ridingEvents } : {}),
      },
    },
    () => withStatements(client, null, before, 'COMMIT'),
  );
}

/**
 * `head`, `statements` and `tail` in one round trip: a simple query of several statements, each a
 * server-side prepared statement (`asExecute`), with a result each (`head`'s and `tail`'s too).
 * Alone, `head` or `tail` is sent as it is.
 */
async function withStatements(
  client: PoolClient,
  head: string | null,
  statements: QueryConfig<unknown[]>[],
  tail: string | null,
): Promise<QueryResult[]> {
  const texts: string[] = [];
  for (const q of statements) texts.push(await asExecute(client, q));
  const all = [...(head === null ? [] : [head]), ...texts, ...(tail === null ? [] : [tail])];
  if (all.length === 0) return [];
  const results = (await client.query(all.join(';\n'))) as unknown as QueryResult | QueryResult[];
  return Array.isArray(results) ? results : [results];
}

/** What the reservation-and-lock statement returns: whether a transaction id was taken before it, and the stream's version (null: no row yet). */
type ReservedLock = { assigned: boolean; version: number | null };

/**
 * A stream reserved and its row locked in one statement, given its id and lock key as SQL (`$1`
 * and `$2` of a prepared statement, or literals): the aggregate takes the advisory lock, and only
 * then, as its row is projected, is the scalar subquery evaluated (Postgres runs an InitPlan on
 * first use) and the row locked. stream-reservation.int.spec.ts checks that a writer waiting here
 * has no transaction id.
 */
function reserveAndLockSql(s: StoreSchema, streamId: string, lockKey: string): string {
  return `SELECT reserved.assigned, (SELECT version FROM ${s.streams} WHERE stream_id = ${streamId} FOR UPDATE) AS version
            FROM (SELECT bool_or(pg_current_xact_id_if_assigned() IS NOT NULL) AS assigned,
                         count(pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))) AS locks) AS reserved`;
}
