import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { appendToStream } from './append.js';
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

    transaction: (fn) => run('BEGIN', fn),
    // Reads in one consistent snapshot: the read models and the stream versions they reflect agree.
    snapshot: (fn) => run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn),

    readStream: (streamId, readOpts) => readStreamEvents(pool, s, streamId, readOpts?.fromVersion),
    streamVersion: (streamId) => readStreamVersion(pool, s, streamId),
    readAll: (readOpts) => readAllEvents(pool, s, readOpts),
  };

  async function run<T>(begin: string, fn: (tx: EventStoreTx) => Promise<T>): Promise<T> {
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
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (!broken) await client.query('ROLLBACK').catch((e: Error) => (broken ??= e));
      throw err;
    } finally {
      client.removeListener('error', onError);
      // A client whose connection failed, or whose rollback did, is in an unknown state: released
      // with the error, the pool destroys it rather than hand it out again.
      client.release(broken);
    }
  }
}
