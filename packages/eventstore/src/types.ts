import type { ClientBase, Pool, PoolClient, QueryConfig, QueryResult } from 'pg';
import type { Broadcast } from '@siteflow/contracts';

/** An event to append. */
export interface NewEvent {
  /** uuid; generated (crypto.randomUUID) if absent. */
  id?: string;
  /** e.g. 'MessagePosted'. */
  type: string;
  data: Record<string, unknown>;
  /** The project whose subject the event is published on. */
  projectId: number | null;
  /** When set and projectId is null, the event goes to the user-level subject. */
  userId?: number | null;
  /** What the gateway should push to clients. */
  broadcast?: Broadcast | null;
  metadata?: Record<string, unknown>;
}

/** An event as stored. */
export interface RecordedEvent {
  eventId: string;
  streamId: string;
  /** 1-based position in its stream. */
  version: number;
  /** Position in the whole store; unique, but NOT commit order (see readAll). */
  globalPosition: number;
  /** xid8 of the appending transaction, as a decimal string. */
  transactionId: string;
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  projectId: number | null;
  userId: number | null;
  broadcast: Broadcast | null;
  occurredAt: Date;
}

/** A number is the exact current version of the stream (0 == 'no_stream'). */
export type ExpectedVersion = number | 'no_stream' | 'any';

/** A read-model migration of one service. SQL runs with `search_path = <schema>, public`. */
export interface Migration {
  id: number;
  name: string;
  up: string | ((client: ClientBase) => Promise<void>);
}

/** Where a global-order reader stands: the last event it has handled. */
export interface GlobalCheckpoint {
  transactionId: string;
  globalPosition: number;
}

export interface AppendOptions {
  expectedVersion: ExpectedVersion;
  /** occurred_at of the events; the transaction's start time when absent. */
  now?: Date;
}

export interface AppendResult {
  nextVersion: number;
  recorded: RecordedEvent[];
}

/**
 * What a transaction does first, sent with its BEGIN in one round trip (a command of one stream, the
 * pipeline's usual case: docs/event-store.md, "Round trips").
 */
export interface TransactionOptions {
  /** `tx.lockStream` of this stream, done before `fn` runs. */
  lockStream?: string;
  /** With `lockStream`: a statement run after the lock (what the command loads), its result in `tx.first`. */
  first?: QueryConfig<unknown[]>;
  /** With `lockStream`: its events read after the lock, answering `tx.readStream` of it until it is appended to (a command that folds its own stream). */
  readStream?: boolean;
}

/** What a store needs of a relay in its own process. */
export interface LocalRelay {
  readonly isLeader: boolean;
  /** Read now: events were committed without a NOTIFY. */
  wake(): void;
}

export interface EventStore {
  readonly schema: string;
  readonly pool: Pool;
  /**
   * Creates the schema and core tables, then applies `readModelMigrations` in id order; each once.
   * Safe when N instances run it concurrently (pg_advisory_xact_lock on the schema name).
   * Everything runs in one transaction, so a failing migration leaves nothing behind.
   */
  migrate(readModelMigrations?: Migration[]): Promise<void>;
  /**
   * The outbox relay of this schema that runs in this process (startOutboxRelay attaches itself):
   * while it leads, this store's commits skip the NOTIFY and wake it directly. Returns the detach.
   */
  attachLocalRelay(relay: LocalRelay): () => void;
  /** BEGIN … COMMIT with a client; rolls back on throw. Read-model updates go through tx.client in the same transaction as append. */
  transaction<T>(fn: (tx: EventStoreTx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /**
   * Records a message given up on (a poison event a consumer cannot handle, one the relay cannot
   * publish) in `dead_letters`, for a person to look at; the caller then moves past it.
   */
  recordDeadLetter(letter: DeadLetter): Promise<void>;
  /** Deletes idempotency keys (and their outcomes) recorded longer ago than this; returns how many. */
  pruneOutcomes(olderThanMs: number): Promise<number>;
  /** A REPEATABLE READ, READ ONLY transaction: read models and stream versions from one snapshot (join snapshots). */
  snapshot<T>(fn: (tx: Omit<EventStoreTx, 'append' | 'appendAtCommit'>) => Promise<T>): Promise<T>;
  readStream(streamId: string, opts?: { fromVersion?: number }): Promise<RecordedEvent[]>;
  /** 0 when the stream does not exist. */
  streamVersion(streamId: string): Promise<number>;
  /**
   * Committed events after `after` in (transaction_id, global_position) order, holding back every
   * transaction not older than the oldest one still running, so a late commit is never skipped.
   */
  readAll(opts: { after?: GlobalCheckpoint; limit: number }): Promise<RecordedEvent[]>;
}

/**
 * One transaction of the store. Every stream it writes (`lockStream`, `append`, `readStream` with
 * `forUpdate`) is first reserved: a transaction-scoped advisory lock on the stream, which takes no
 * transaction id, so the id a writer gets comes after every earlier writer of each of its streams
 * committed and the relay's (transaction_id, position) order is each stream's version order
 * (docs/consistency.md, rule 3). A transaction that writes several streams reserves them all,
 * with `reserveStreams`, before its first write; writing an existing stream it reserved only
 * after that throws `StreamNotReserved` (streams created in the transaction are exempt).
 */
export interface EventStoreTx {
  client: PoolClient;
  /** The result of `TransactionOptions.first` (null without one). */
  first: QueryResult | null;
  /**
   * Runs `query` in COMMIT's round trip, just before COMMIT (in the order given), and hands its
   * result to `then` once COMMIT succeeded. A failure fails the transaction, as it would have here.
   * For a projection nothing later in the transaction reads (it is not there until then).
   */
  atCommit(query: QueryConfig<unknown[]>, then?: (result: QueryResult) => void): void;
  /**
   * Appends after checking the expected version; a mismatch or a concurrent append throws
   * ConcurrencyError. 'any' serialises on the stream and always succeeds. Notifies the relay on commit.
   * Reserves the stream first if it is not yet.
   */
  append(streamId: string, events: NewEvent[], opts: AppendOptions): Promise<AppendResult>;
  /**
   * `append` at an exact expected version (0: a new stream) sent in COMMIT's round trip, first,
   * instead of in one of its own: one round trip fewer for a command (docs/event-store.md,
   * "Round trips"). Returns the stream's next version at once; the events as stored reach
   * `afterCommit` as any append's do. Had the stream moved (it cannot while its lock is held), the
   * statement fails, nothing commits and the transaction throws ConcurrencyError. Whatever the
   * transaction does next through the store (`append`, `readStream`, `streamVersion`, …) sends the
   * waiting appends first, so it sees them; statements of one's own on `client` do not until COMMIT.
   */
  appendAtCommit(streamId: string, events: NewEvent[], opts: { expectedVersion: number; now?: Date }): Promise<{ nextVersion: number }>;
  /** `forUpdate` locks the stream like `lockStream` until the transaction ends (other appenders wait). */
  readStream(streamId: string, opts?: { fromVersion?: number; forUpdate?: boolean }): Promise<RecordedEvent[]>;
  streamVersion(streamId: string): Promise<number>;
  /**
   * Takes the advisory locks of these streams until the transaction ends, in one statement and in
   * sorted order (one order everywhere: no deadlock between reservers); streams already reserved
   * are skipped. Called before the transaction's first write with every stream it will write.
   */
  reserveStreams(streamIds: readonly string[]): Promise<void>;
  /**
   * Reserves the stream (if not yet; in the same statement), then locks its row until the
   * transaction ends (other writers of the stream wait) and returns its version: what a command that
   * decides from state and appends needs first. A stream not yet created locks nothing and is version 0. Throws StreamNotReserved
   * for an existing stream reserved only after the transaction's first write.
   */
  lockStream(streamId: string): Promise<number>;
  /**
   * `lockStream` for many streams in two statements (their reservation, then their rows, sorted),
   * returning each one's version: a later `lockStream` of one of them asks the database nothing.
   * For work done for many streams at once (a group commit).
   */
  lockStreams(streamIds: readonly string[]): Promise<Map<string, number>>;
  /**
   * Reads these streams' events in one statement, ahead of the `readStream` calls that want them:
   * until the transaction appends to one, its `readStream` is answered from what was read here.
   * Read after `lockStreams`, they are what the locked versions hold; a stream it found without a
   * row is empty without a statement.
   */
  readStreams(streamIds: readonly string[]): Promise<void>;
  /**
   * `append` to several streams (each once, each at its exact expected version: 0 for a new one)
   * in one statement. A ConcurrencyError leaves some streams written: the transaction must not commit.
   */
  appendToStreams(appends: StreamAppend[]): Promise<AppendResult[]>;
}

/** One stream's part of `appendToStreams`: its events after exactly `expectedVersion` (0: the stream is new). */
export interface StreamAppend {
  streamId: string;
  events: NewEvent[];
  expectedVersion: number;
  /** occurred_at of these events; the transaction's start time when absent. */
  now?: Date;
}

/** A message given up on. */
export interface DeadLetter {
  /** Who gave up: a durable consumer's name, or `outbox`. */
  source: string;
  subject?: string;
  /** Where it was: a stream sequence, an event's global position. */
  position?: string;
  reason: string;
  /** The message itself, as text (bounded by the caller). */
  payload?: string;
}
