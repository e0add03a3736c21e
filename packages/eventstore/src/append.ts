import { randomUUID } from 'node:crypto';
import type { PoolClient, QueryConfig } from 'pg';
import { inSpan, SpanKind, traceFields, tracingEnabled } from '@siteflow/telemetry';
import { ConcurrencyError } from './errors.js';
import { APPENDED_COLUMNS, EVENT_COLUMNS, readStreamVersion, toRecordedEvent, type AppendedRow, type EventRow } from './read.js';
import { prepared } from './prepared.js';
import type { StoreSchema } from './schema.js';
import type { AppendOptions, AppendResult, ExpectedVersion, NewEvent, RecordedEvent, StreamAppend } from './types.js';

const UNIQUE_VIOLATION = '23505';

/** Told how long each append took (its statements, inside the caller's transaction) and how many events it wrote. */
export type AppendObserver = (seconds: number, events: number) => void;
let appendObserver: AppendObserver | null = null;

/**
 * Where metrics (and later tracing) hook into appends, so the store needs no metrics library.
 * One per process (a process runs one service); the last one set wins.
 */
export function observeAppends(observer: AppendObserver | null): void {
  appendObserver = observer;
}

/**
 * Appends inside the caller's transaction. The `streams` row is the stream's version: claiming the
 * next versions there (insert for a new stream, compare-and-set update otherwise) makes concurrent
 * appenders queue on that row, and the loser sees the new version and fails without aborting the
 * transaction. UNIQUE(stream_id, version) on events is the backstop.
 */
export async function appendToStream(
  client: PoolClient,
  s: StoreSchema,
  streamId: string,
  events: NewEvent[],
  opts: AppendOptions,
  /** NOTIFY the relay (false: the committing process wakes its own relay, which leads). */
  notify = true,
): Promise<AppendResult> {
  if (tracingEnabled()) return tracedAppend(client, s, streamId, events, opts, notify);
  return observedAppend(client, s, streamId, events, opts, notify);
}

async function observedAppend(
  client: PoolClient,
  s: StoreSchema,
  streamId: string,
  events: NewEvent[],
  opts: AppendOptions,
  notify: boolean,
): Promise<AppendResult> {
  if (!appendObserver) return appendEvents(client, s, streamId, events, opts, notify);
  const started = performance.now();
  const result = await appendEvents(client, s, streamId, events, opts, notify);
  appendObserver((performance.now() - started) / 1000, events.length);
  return result;
}

/**
 * The append as a span, whose W3C trace context each event keeps in its metadata (`traceparent`,
 * `tracestate`): the relay publishes the event, maybe much later and from another instance, as a
 * child of this span, so a command and the deliveries of its events are one trace.
 */
function tracedAppend(client: PoolClient, s: StoreSchema, streamId: string, events: NewEvent[], opts: AppendOptions, notify: boolean) {
  return inAppendSpan(s, { 'siteflow.stream_id': streamId, 'siteflow.events': events.length }, (withTrace) =>
    observedAppend(client, s, streamId, events.map(withTrace), opts, notify),
  );
}

/** Runs `fn` in an `eventstore.append` span when tracing; `withTrace` adds the span's context to an event's metadata. */
function inAppendSpan<T>(
  s: StoreSchema,
  attributes: Record<string, string | number>,
  fn: (withTrace: (e: NewEvent) => NewEvent) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return fn((e) => e);
  return inSpan(
    'eventstore.append',
    {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': 'postgresql', 'db.namespace': s.name, 'db.operation.name': 'append', ...attributes },
    },
    (span) => {
      const trace = span ? traceFields() : undefined;
      return fn((e) => (trace ? { ...e, metadata: { ...e.metadata, ...trace } } : e));
    },
  );
}

/**
 * The append in as few round trips as its expected version allows: with an exact expected version
 * (every command does: it locked its stream first), claiming the versions, inserting the events
 * and the relay's notification are one statement (profiled: each statement is a round trip, and
 * the command pipeline's statements were half of a service's busy time in the room benchmark).
 * Claimed nothing (another writer moved the stream): no event is inserted, and the caller gets a
 * ConcurrencyError, as before.
 */
async function appendEvents(
  client: PoolClient,
  s: StoreSchema,
  streamId: string,
  events: NewEvent[],
  opts: AppendOptions,
  notify: boolean,
): Promise<AppendResult> {
  const expected = opts.expectedVersion;
  if (expected === 'any' || events.length === 0) {
    const start = await claimVersions(client, s, streamId, events.length, expected);
    if (events.length === 0) return { nextVersion: start, recorded: [] };
    const recorded = await insertEvents(client, s, streamId, events, opts, { start, claim: null, notify }, expected);
    return { nextVersion: start + events.length, recorded };
  }
  const version = expected === 'no_stream' ? 0 : expected;
  if (!Number.isInteger(version) || version < 0) throw new RangeError(`invalid expected version ${String(expected)}`);
  const recorded = await insertEvents(client, s, streamId, events, opts, { start: version, claim: claimSql(s, version), notify }, expected);
  if (recorded.length === 0) throw new ConcurrencyError(streamId, expected, await readStreamVersion(client, s, streamId));
  return { nextVersion: version + events.length, recorded };
}

/**
 * Inserts the events after `start` and notifies the relay (delivered on commit; Postgres folds
 * repeats within one transaction into one notification), in one statement. With `claim`, a
 * data-modifying statement that returns the stream's new version when it moved it, the events
 * are inserted only if it did: none are when another writer got there first.
 */
async function insertEvents(
  client: PoolClient,
  s: StoreSchema,
  streamId: string,
  events: NewEvent[],
  opts: AppendOptions,
  at: { start: number; claim: string | null; notify: boolean },
  expected: ExpectedVersion,
): Promise<RecordedEvent[]> {
  const append = appendQuery(s, streamId, events, { start: at.start, now: opts.now, claim: at.claim, guard: false, notify: at.notify });
  try {
    const { rows } = await client.query<AppendedRow>(append.query);
    return append.recorded(rows);
  } catch (err) {
    if (isStreamVersionConflict(err)) throw new ConcurrencyError(streamId, expected, -1);
    throw err;
  }
}

/** SQLSTATE of a riding append whose stream moved (raised by `<schema>.expect_claimed`, created with the store's tables). */
export const STREAM_MOVED = 'SF001';

/**
 * The append as one statement to ride in COMMIT's round trip (`tx.appendAtCommit`): the versions
 * after `expected` (0: a new stream) claimed, the events inserted and the relay notified, as
 * `appendEvents` does, but a stream that moved meanwhile raises STREAM_MOVED instead of inserting
 * nothing, so the COMMIT after it in the same simple query never runs. The caller holds the
 * stream's lock, so it cannot move; the guard is the backstop (as UNIQUE(stream_id, version) is).
 */
export function ridingAppend(
  s: StoreSchema,
  streamId: string,
  events: NewEvent[],
  expected: number,
  now: Date | undefined,
  /** NOTIFY the relay (false: the committing process wakes its own relay, which leads). */
  notify: boolean,
): StreamAppendQuery {
  if (!Number.isInteger(expected) || expected < 0) throw new RangeError(`invalid expected version ${String(expected)}`);
  if (events.length === 0) throw new RangeError('ridingAppend: no events');
  return appendQuery(s, streamId, events, { start: expected, now, claim: claimSql(s, expected), guard: true, notify });
}

/**
 * Claiming the versions after `version` (0: creating the stream) as a data-modifying statement
 * that returns the new version when it moved the stream (nothing when another writer got there
 * first); `$1` is the stream, `$2` the version, `$12` the count.
 */
function claimSql(s: StoreSchema, version: number): string {
  return version === 0
    ? `INSERT INTO ${s.streams} (stream_id, version) VALUES ($1, $2::int + $12::int) ON CONFLICT (stream_id) DO NOTHING RETURNING version`
    : `UPDATE ${s.streams} SET version = $2::int + $12::int WHERE stream_id = $1 AND version = $2 RETURNING version`;
}

/**
 * The append's one statement: the events inserted after `start`, the relay notified (delivered on
 * commit), and with `claim` the versions claimed first. Then, the events are inserted only if the
 * claim moved the stream (none are otherwise: the caller sees an empty result), or, with `guard`,
 * the statement fails with STREAM_MOVED (for a statement riding with COMMIT, which cannot look at
 * its result first).
 */
function appendQuery(
  s: StoreSchema,
  streamId: string,
  events: NewEvent[],
  at: { start: number; now: Date | undefined; claim: string | null; guard: boolean; notify: boolean },
): StreamAppendQuery {
  const claimed = at.claim === null ? '' : `claimed AS (${at.claim}), `;
  const onlyIfClaimed =
    at.claim === null ? '' : at.guard ? `, (SELECT ${s.expectClaimed}(EXISTS (SELECT 1 FROM claimed), $1)) AS guard` : ', claimed';
  const data = JSON.stringify(events.map((e) => e.data));
  const query = prepared(
    `WITH ${claimed}${notified('$11')}
     INSERT INTO ${s.events} (event_id, stream_id, version, type, data, metadata, project_id, user_id, broadcast, occurred_at)
     SELECT e.event_id, $1, $2::int + e.ord::int, e.type, d.data, e.metadata, e.project_id, e.user_id, e.broadcast, COALESCE($3::timestamptz, now())
       FROM unnest($4::uuid[], $5::text[], $7::jsonb[], $8::bigint[], $9::bigint[], $10::jsonb[])
            WITH ORDINALITY AS e(event_id, type, metadata, project_id, user_id, broadcast, ord)
            JOIN jsonb_array_elements($6::jsonb) WITH ORDINALITY AS d(data, ord) ON d.ord = e.ord,
            notified${onlyIfClaimed}
     RETURNING ${APPENDED_COLUMNS}`,
    [
      streamId,
      at.start,
      at.now ?? null,
      events.map((e) => e.id ?? randomUUID()),
      events.map((e) => e.type),
      // The events' data as one JSON array, not an array of JSON texts: node-postgres escapes
      // every element of an array parameter (two passes over a document's content) before it is
      // escaped again as a literal for a riding append.
      data,
      events.map((e) => JSON.stringify(e.metadata ?? {})),
      events.map((e) => e.projectId),
      events.map((e) => e.userId ?? null),
      events.map((e) => (e.broadcast ? JSON.stringify(e.broadcast) : null)),
      at.notify ? s.channel : null,
      // The claim's count only where there is a claim (a parameter no statement uses has no type).
      ...(at.claim === null ? [] : [events.length]),
    ],
  );
  return { query, recorded: (rows) => recordedFrom(rows, at.start, data) };
}

/** An append's statement, and how its result rows become the events as stored. */
export interface StreamAppendQuery {
  query: QueryConfig<unknown[]>;
  /** The statement's rows (none: it inserted nothing) as recorded events, in version order. */
  recorded: (rows: AppendedRow[]) => RecordedEvent[];
}

/**
 * The rows an append returned (`APPENDED_COLUMNS`), with the data it sent: the event at version
 * `start + k` has the k-th of the JSON array, parsed from the very text sent, so the data reads
 * as Postgres stored it (what JSON drops, such as undefined fields, is gone; dates are strings);
 * only its keys may come in another order than a read from the table gives them.
 */
function recordedFrom(rows: AppendedRow[], start: number, data: string): RecordedEvent[] {
  if (rows.length === 0) return [];
  const datas = JSON.parse(data) as Record<string, unknown>[];
  return rows
    .map((row) => {
      const d = datas[row.version - start - 1];
      if (d === undefined)
        throw new Error(`stream ${row.stream_id}: version ${row.version} is not one of the ${datas.length} appended after ${start}`);
      return toRecordedEvent({ ...row, data: d });
    })
    .sort((a, b) => a.version - b.version);
}

/**
 * The CTE that notifies the relay's channel, the text parameter `param`, at commit; a NULL channel
 * notifies nobody (the committing process wakes its own relay, which leads). One row either way,
 * so the events joined with it are all inserted; the aggregate reads its one input row, and calls
 * pg_notify, exactly when there is a channel.
 */
function notified(param: string): string {
  return `notified AS (SELECT count(pg_notify(ch, '')) AS n FROM (SELECT ${param}::text AS ch) AS c WHERE ch IS NOT NULL)`;
}

/** Whether `err`, from the round trip a riding append was in, says its stream moved. */
export function isRidingConflict(err: unknown): boolean {
  return isStreamVersionConflict(err) || (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === STREAM_MOVED);
}

/** Tells the append observer of appends that rode with COMMIT: `seconds` is that round trip's. */
export function observeRidingAppends(seconds: number, events: number): void {
  appendObserver?.(seconds, events);
}

/** Moves the stream's version forward by `count` and returns the version the new events follow. */
async function claimVersions(
  client: PoolClient,
  s: StoreSchema,
  streamId: string,
  count: number,
  expected: ExpectedVersion,
): Promise<number> {
  if (expected === 'any') {
    if (count === 0) return readStreamVersion(client, s, streamId);
    const { rows } = await client.query<{ version: number }>(
      `INSERT INTO ${s.streams} AS st (stream_id, version) VALUES ($1, $2)
       ON CONFLICT (stream_id) DO UPDATE SET version = st.version + EXCLUDED.version
       RETURNING version`,
      [streamId, count],
    );
    const row = rows[0];
    if (!row) throw new Error(`no version returned for stream ${streamId}`);
    return row.version - count;
  }

  const version = expected === 'no_stream' ? 0 : expected;
  if (!Number.isInteger(version) || version < 0) throw new RangeError(`invalid expected version ${String(expected)}`);
  const conflict = async () => new ConcurrencyError(streamId, expected, await readStreamVersion(client, s, streamId));

  if (count === 0) {
    if ((await readStreamVersion(client, s, streamId)) !== version) throw await conflict();
    return version;
  }
  const { rowCount } =
    version === 0
      ? await client.query(
          prepared(`INSERT INTO ${s.streams} (stream_id, version) VALUES ($1, $2) ON CONFLICT (stream_id) DO NOTHING`, [streamId, count]),
        )
      : await client.query(
          prepared(`UPDATE ${s.streams} SET version = $3 WHERE stream_id = $1 AND version = $2`, [streamId, version, version + count]),
        );
  if (rowCount !== 1) throw await conflict();
  return version;
}

function isStreamVersionConflict(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, constraint } = err as { code?: unknown; constraint?: unknown };
  return code === UNIQUE_VIOLATION && constraint === 'events_stream_id_version_key';
}

/**
 * Appends to several streams in one statement (a group commit's: presence's sessions), each after
 * its exact expected version: every stream's versions are claimed, its events inserted, and the
 * relay notified at once. If any stream moved meanwhile, ConcurrencyError (and the caller's
 * transaction is to be rolled back: the other streams' events were inserted). Each stream once.
 */
export async function appendToStreams(
  client: PoolClient,
  s: StoreSchema,
  appends: StreamAppend[],
  /** NOTIFY the relay (false: the committing process wakes its own relay, which leads). */
  notify = true,
): Promise<AppendResult[]> {
  if (appends.length === 0) return [];
  const events = appends.reduce((n, a) => n + a.events.length, 0);
  return inAppendSpan(s, { 'siteflow.streams': appends.length, 'siteflow.events': events }, async (withTrace) => {
    const started = performance.now();
    const results = await insertIntoStreams(client, s, appends, withTrace, notify);
    appendObserver?.((performance.now() - started) / 1000, events);
    return results;
  });
}

async function insertIntoStreams(
  client: PoolClient,
  s: StoreSchema,
  appends: StreamAppend[],
  withTrace: (e: NewEvent) => NewEvent,
  notify: boolean,
): Promise<AppendResult[]> {
  if (new Set(appends.map((a) => a.streamId)).size !== appends.length) throw new RangeError('appendToStreams: a stream appears twice');
  for (const a of appends) {
    if (!Number.isInteger(a.expectedVersion) || a.expectedVersion < 0)
      throw new RangeError(`invalid expected version ${a.expectedVersion}`);
  }
  const events = appends.flatMap((a) => a.events.map((e, i) => ({ a, e: withTrace(e), ord: i + 1 })));
  let rows: EventRow[];
  try {
    ({ rows } = await client.query<EventRow>(
      prepared(
        `WITH wanted AS (
           SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS w(stream_id, expected, n)
         ), moved AS (
           UPDATE ${s.streams} st SET version = w.expected + w.n FROM wanted w
            WHERE w.expected > 0 AND st.stream_id = w.stream_id AND st.version = w.expected
           RETURNING st.stream_id
         ), created AS (
           INSERT INTO ${s.streams} (stream_id, version) SELECT stream_id, expected + n FROM wanted WHERE expected = 0
           ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id
         ), claimed AS (
           SELECT stream_id FROM moved UNION ALL SELECT stream_id FROM created
         ), ${notified('$4')}
         INSERT INTO ${s.events} (event_id, stream_id, version, type, data, metadata, project_id, user_id, broadcast, occurred_at)
         SELECT e.event_id, e.stream_id, w.expected + e.ord, e.type, e.data, e.metadata, e.project_id, e.user_id, e.broadcast, COALESCE(e.occurred_at, now())
           FROM unnest($5::text[], $6::int[], $7::uuid[], $8::text[], $9::jsonb[], $10::jsonb[], $11::bigint[], $12::bigint[], $13::jsonb[], $14::timestamptz[])
                AS e(stream_id, ord, event_id, type, data, metadata, project_id, user_id, broadcast, occurred_at)
           JOIN wanted w ON w.stream_id = e.stream_id
           JOIN claimed c ON c.stream_id = e.stream_id,
           notified
         RETURNING ${EVENT_COLUMNS}`,
        [
          appends.map((a) => a.streamId),
          appends.map((a) => a.expectedVersion),
          appends.map((a) => a.events.length),
          notify ? s.channel : null,
          events.map((x) => x.a.streamId),
          events.map((x) => x.ord),
          events.map((x) => x.e.id ?? randomUUID()),
          events.map((x) => x.e.type),
          events.map((x) => JSON.stringify(x.e.data)),
          events.map((x) => JSON.stringify(x.e.metadata ?? {})),
          events.map((x) => x.e.projectId),
          events.map((x) => x.e.userId ?? null),
          events.map((x) => (x.e.broadcast ? JSON.stringify(x.e.broadcast) : null)),
          events.map((x) => x.a.now ?? null),
        ],
      ),
    ));
  } catch (err) {
    if (isStreamVersionConflict(err)) throw new ConcurrencyError(appends[0]?.streamId ?? '', appends[0]?.expectedVersion ?? 'any', -1);
    throw err;
  }
  const byStream = new Map<string, RecordedEvent[]>();
  for (const r of rows) {
    const e = toRecordedEvent(r);
    const list = byStream.get(e.streamId);
    if (list) list.push(e);
    else byStream.set(e.streamId, [e]);
  }
  return appends.map((a) => {
    const recorded = (byStream.get(a.streamId) ?? []).sort((x, y) => x.version - y.version);
    // Claimed nothing: another writer moved the stream (its events were not inserted).
    if (recorded.length !== a.events.length)
      throw new ConcurrencyError(a.streamId, a.expectedVersion === 0 ? 'no_stream' : a.expectedVersion, -1);
    return { nextVersion: a.expectedVersion + a.events.length, recorded };
  });
}
