export type {
  AppendOptions,
  AppendResult,
  DeadLetter,
  EventStore,
  EventStoreTx,
  ExpectedVersion,
  GlobalCheckpoint,
  LocalRelay,
  Migration,
  NewEvent,
  RecordedEvent,
  StreamAppend,
  TransactionOptions,
} from './types.js';
export { ConcurrencyError, databaseUnavailableReason, isConcurrencyError } from './errors.js';
export {
  connectionSettings,
  createPostgresPool,
  DEFAULT_POOL_IDLE_TIMEOUT_MS,
  DEFAULT_POOL_MIN,
  DEFAULT_POSTGRES_TIMEOUTS,
  type PostgresPoolOptions,
  type PostgresTimeouts,
} from './pool.js';
export { createEventStore, StreamNotReserved, streamLockKey } from './store.js';
export { compareCheckpoints } from './read.js';
export { toPublishedEvent } from './published.js';
export { observeAppends, type AppendObserver } from './append.js';
export { observeTransactions, type TransactionObserver, type TransactionTiming } from './transaction-timing.js';
export {
  startOutboxRelay,
  ensureStream,
  readOutboxLag,
  type OutboxLag,
  type OutboxRelay,
  type OutboxRelayOptions,
  type StreamLimits,
} from './outbox.js';
export { prepared } from './prepared.js';
export { withIdempotencyKey, withoutIdempotencyKey, IdempotencyKeyReused, type IdempotencyScope } from './idempotency.js';
export {
  JETSTREAM_READY_TIMEOUT_MS,
  JetStreamNotReadyError,
  retryWhileJetStreamForms,
  transientJetStreamReason,
  type JetStreamRetryOptions,
} from './jetstream-ready.js';
