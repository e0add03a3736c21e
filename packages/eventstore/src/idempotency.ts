import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Idempotent commands: a client may give a command a key of its choosing, and a retry with the same
 * key gets the first outcome instead of running again (a push answered with an error, a timeout
 * say, may still have been committed).
 *
 * The key is kept with its outcome in the service's schema (`command_outcomes`), written in the
 * same transaction as the command's events, so "committed" and "outcome recorded" are one fact.
 * A transaction started inside `withIdempotencyKey` first takes a transaction-scoped advisory lock
 * on the key (which writes nothing: a command must lock its stream before its first write, see
 * docs/event-store.md), then looks for a recorded outcome: found, it is returned and nothing runs;
 * otherwise the command runs and its outcome is recorded before COMMIT. A concurrent duplicate
 * waits on the advisory lock and then finds the outcome. A command that failed recorded nothing
 * (its transaction rolled back), so its retry runs again.
 */
export interface IdempotencyScope {
  userId: number;
  key: string;
  /** The command (NATS subject): a key reused for another command is refused. */
  command: string;
  /** Set once a transaction in the scope committed with the key: later ones run unguarded. */
  used?: boolean;
}

const scope = new AsyncLocalStorage<IdempotencyScope>();

/** Runs `fn` with every event-store transaction it starts keyed (the first one that commits takes the key). */
export function withIdempotencyKey<T>(id: Omit<IdempotencyScope, 'used'>, fn: () => Promise<T>): Promise<T> {
  return scope.run({ ...id }, fn);
}

/** Runs `fn` with no idempotency key in force (work done for many callers at once, none of whose keys it is). */
export function withoutIdempotencyKey<T>(fn: () => Promise<T>): Promise<T> {
  return scope.exit(fn);
}

export function currentIdempotencyScope(): IdempotencyScope | undefined {
  const s = scope.getStore();
  return s && !s.used ? s : undefined;
}

/** The key was used before for another command. */
export class IdempotencyKeyReused extends Error {
  constructor(readonly command: string) {
    super(`this idempotency key was already used for ${command}`);
    this.name = 'IdempotencyKeyReused';
  }
}

/** Thrown inside a transaction to end it and hand back the recorded outcome. */
export class RecordedOutcome extends Error {
  constructor(readonly outcome: unknown) {
    super('the command ran before under this key');
  }
}
