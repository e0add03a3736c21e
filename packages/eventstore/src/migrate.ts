import pg from 'pg';
import type { Logger } from 'pino';
import { lockKey, type StoreSchema } from './schema.js';
import type { Migration } from './types.js';

/** The store's own tables. Idempotent, so it runs on every migrate; later changes append statements here. */
function coreTables(s: StoreSchema): string {
  return `
    CREATE SCHEMA IF NOT EXISTS "${s.name}";
    CREATE TABLE IF NOT EXISTS ${s.migrations} (
      id          integer PRIMARY KEY,
      name        text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS ${s.streams} (
      stream_id   text PRIMARY KEY,
      version     integer NOT NULL CHECK (version >= 0)
    );
    CREATE TABLE IF NOT EXISTS ${s.events} (
      global_position bigserial PRIMARY KEY,
      event_id        uuid NOT NULL UNIQUE,
      stream_id       text NOT NULL,
      version         integer NOT NULL CHECK (version >= 1),
      transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
      type            text NOT NULL,
      data            jsonb NOT NULL,
      metadata        jsonb NOT NULL DEFAULT '{}',
      project_id      bigint,
      user_id         bigint,
      broadcast       jsonb,
      occurred_at     timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT events_stream_id_version_key UNIQUE (stream_id, version)
    );
    CREATE INDEX IF NOT EXISTS events_global_order ON ${s.events} (transaction_id, global_position);
    CREATE TABLE IF NOT EXISTS ${s.outcomes} (
      user_id     bigint NOT NULL,
      key         text NOT NULL,
      command     text NOT NULL,
      outcome     jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, key)
    );
    CREATE INDEX IF NOT EXISTS command_outcomes_age ON ${s.outcomes} (recorded_at);
    CREATE TABLE IF NOT EXISTS ${s.deadLetters} (
      id          bigserial PRIMARY KEY,
      source      text NOT NULL,
      subject     text,
      position    text,
      reason      text NOT NULL,
      payload     text,
      recorded_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS ${s.checkpoints} (
      name            text PRIMARY KEY,
      transaction_id  xid8 NOT NULL,
      global_position bigint NOT NULL,
      updated_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE OR REPLACE FUNCTION ${s.expectClaimed}(claimed boolean, stream_id text) RETURNS boolean
      LANGUAGE plpgsql VOLATILE AS $fn$
      BEGIN
        IF NOT claimed THEN
          RAISE EXCEPTION 'stream % moved: its versions were claimed by another transaction', stream_id USING ERRCODE = 'SF001';
        END IF;
        RETURN true;
      END
      $fn$;`;
}

/**
 * One transaction under an advisory lock on the schema name: concurrent instances queue, and the
 * later ones find everything applied. Read-model SQL runs with `search_path = <schema>, public`, so
 * unqualified names land in the service's schema (statements that refuse a transaction, such as
 * CREATE INDEX CONCURRENTLY, are not supported).
 *
 * It runs on a connection of its own, with the pool's settings but `timeoutMs` as its statement,
 * query and idle bounds: a migration's length grows with the data, unlike a command's, and an
 * instance waiting for another's migration waits in one statement.
 */
export async function migrate(pool: pg.Pool, s: StoreSchema, migrations: Migration[], logger?: Logger, timeoutMs = 600_000): Promise<void> {
  const ordered = [...migrations].sort((a, b) => a.id - b.id);
  ordered.forEach((m, i) => {
    if (!Number.isInteger(m.id) || m.id < 1) throw new Error(`migration ${m.name}: id must be a positive integer`);
    if (i > 0 && ordered[i - 1]?.id === m.id) throw new Error(`duplicate migration id ${m.id}`);
  });

  const client = new pg.Client({
    ...pool.options,
    statement_timeout: timeoutMs,
    idle_in_transaction_session_timeout: timeoutMs,
    query_timeout: timeoutMs + 5_000,
  });
  let broken: Error | undefined;
  client.on('error', (err) => (broken ??= err));
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('migrate', s)]);
    await client.query(coreTables(s));
    await client.query(`SET LOCAL search_path TO "${s.name}", public`);
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${s.migrations}`);
    const applied = new Set(rows.map((r) => r.id));
    for (const m of ordered) {
      if (applied.has(m.id)) continue;
      if (typeof m.up === 'string') await client.query(m.up);
      else await m.up(client);
      await client.query(`INSERT INTO ${s.migrations} (id, name) VALUES ($1, $2)`, [m.id, m.name]);
      // Not `name`: log viewers (pino-pretty) show that as the logger's name.
      logger?.info({ schema: s.name, migration: m.id, migration_name: m.name }, 'migration applied');
    }
    await client.query('COMMIT');
  } catch (err) {
    if (!broken) await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
