/** Names of the store's objects inside one service's schema. */
export interface StoreSchema {
  name: string;
  events: string;
  streams: string;
  migrations: string;
  checkpoints: string;
  /** Idempotency keys with the outcome of the command that used them. */
  outcomes: string;
  /** Messages given up on (poison): what, from where, why. */
  deadLetters: string;
  /** NOTIFY channel the relay LISTENs on. */
  channel: string;
  /** `expect_claimed(claimed boolean, stream_id text)`: raises SQLSTATE SF001 unless `claimed` (a riding append's guard). */
  expectClaimed: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/** Validates the schema name (it is interpolated into SQL) and derives the qualified table names. */
export function storeSchema(name: string): StoreSchema {
  // 63 is Postgres' identifier limit; the channel name appends `_events`.
  if (!SCHEMA_NAME.test(name) || name.length > 56) {
    throw new Error(`invalid event store schema name ${JSON.stringify(name)}: must match ${SCHEMA_NAME} and be at most 56 characters`);
  }
  const q = `"${name}"`;
  return {
    name,
    events: `${q}.events`,
    streams: `${q}.streams`,
    migrations: `${q}.schema_migrations`,
    checkpoints: `${q}.outbox_checkpoint`,
    outcomes: `${q}.command_outcomes`,
    deadLetters: `${q}.dead_letters`,
    channel: `${name}_events`,
    expectClaimed: `${q}.expect_claimed`,
  };
}

/** Key for pg_advisory_*lock(hashtextextended(key, 0)); advisory locks are per database. */
export function lockKey(purpose: 'migrate' | 'outbox', s: StoreSchema): string {
  return `siteflow:${purpose}:${s.name}`;
}
