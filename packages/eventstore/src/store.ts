import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { inSpan, SpanKind, tracingEnabled } from '@siteflow/telemetry';
import { appendToStream } from './append.js';
import { currentIdempotencyScope, IdempotencyKeyReused, RecordedOutcome } from './idempotency.js';
import { prepared } from './prepared.js';
import { migrate } from './migrate.js';
import { readAllEvents, readStreamEvents, readStreamVersion } from './read.js';
import { storeSchema } from './schema.js';
import type { EventStore, EventStoreTx } from './types.js';

/** The event store of one service, in its own Postgres schema (run `migrate()` once at boot). */
export function createEventStore(opts: {
  pool: Pool;
  schema: string;
  logger?: Logger;
  /** Statement bound of migrations (default 10 minutes); commands use the pool's. */
  migrationTimeoutMs?: number;
}): EventStore {
  const { pool, logger } = opts;
  const s = storeSchema(opts.schema);

  return {
    schema: s.name,
    pool,
    migrate: (readModelMigrations = []) => migrate(pool, s, readModelMigrations, logger, opts.migrationTimeoutMs),

    transaction: (fn) => run('BEGIN', fn, currentIdempotencyScope()),
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

  async function run<T>(
    begin: string,
    fn: (tx: EventStoreTx) => Promise<T>,
    idempotency?: ReturnType<typeof currentIdempotencyScope>,
  ): Promise<T> {
    const client = await pool.connect();
    // The connection may die while the client is ours (between two statements, or while `fn`
    // awaits something else): `pg` then emits 'error', which must not go unheard.
    let broken: Error | undefined;
    const onError = (err: Error) => (broken ??= err);
    client.on('error', onError);
    const tx: EventStoreTx = {
      client,
      append: (streamId, events, appendOpts) => appendToStream(client, s, streamId, events, appendOpts),
      readStream: async (streamId, readOpts) => {
        if (readOpts?.forUpdate) await readStreamVersion(client, s, streamId, true);
        return readStreamEvents(client, s, streamId, readOpts?.fromVersion);
      },
      streamVersion: (streamId) => readStreamVersion(client, s, streamId),
      lockStream: (streamId) => readStreamVersion(client, s, streamId, true),
    };
    try {
      await client.query(begin);
      if (idempotency) {
        // Writes nothing (no transaction id is taken before the command locks its stream).
        await client.query(
          prepared(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`${s.name}:${idempotency.userId}:${idempotency.key}`]),
        );
        const { rows } = await client.query<{ command: string; outcome: unknown }>(
          prepared(`SELECT command, outcome FROM ${s.outcomes} WHERE user_id = $1 AND key = $2`, [idempotency.userId, idempotency.key]),
        );
        const recorded = rows[0];
        if (recorded && recorded.command !== idempotency.command) throw new IdempotencyKeyReused(recorded.command);
        if (recorded) throw new RecordedOutcome(recorded.outcome);
      }
      const result = await fn(tx);
      if (idempotency) {
        await client.query(
          prepared(`INSERT INTO ${s.outcomes} (user_id, key, command, outcome) VALUES ($1, $2, $3, $4)`, [
            idempotency.userId,
            idempotency.key,
            idempotency.command,
            JSON.stringify(result ?? null),
          ]),
        );
      }
      await commit(client, s.name);
      if (idempotency) idempotency.used = true;
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
      // A client whose connection failed, or whose rollback did, is in an unknown state: released
      // with the error, the pool destroys it rather than hand it out again.
      client.release(broken);
    }
  }
}

/** COMMIT; a span of its own when tracing (what a command's events wait for before the relay sees them). */
function commit(client: PoolClient, schema: string): Promise<unknown> {
  if (!tracingEnabled()) return client.query('COMMIT');
  return inSpan(
    'eventstore.commit',
    { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.namespace': schema, 'db.operation.name': 'COMMIT' } },
    () => client.query('COMMIT'),
  );
}
