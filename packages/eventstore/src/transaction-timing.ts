import type { PoolClient } from 'pg';

/**
 * Where one transaction of the store's (a command's, or a snapshot read's) time went: what an
 * operator asks first of a slow command, "Postgres or us?". The pool wait and the time a statement
 * was outstanding on the connection are Postgres's side (its work, and the wake-ups of a round trip
 * on a busy machine); the rest of `seconds` is this process's own work between its round trips.
 */
export interface TransactionTiming {
  /** `command` (`store.transaction`) or `snapshot` (`store.snapshot`, a join's read). */
  kind: 'command' | 'snapshot';
  /** COMMIT succeeded; false: rolled back (a refusal, a conflict run again, a failure, an outcome already recorded). */
  committed: boolean;
  /** From asking the pool for a connection to releasing it. */
  seconds: number;
  /** Waiting for the pool to hand out a connection. */
  poolWaitSeconds: number;
  /** Time with a statement outstanding on the connection: sent, and its result not yet back. */
  postgresSeconds: number;
  /** Statements sent on the connection (each a round trip; a simple query of several statements is one), preparations included. */
  roundTrips: number;
}

export type TransactionObserver = (timing: TransactionTiming) => void;

let observer: TransactionObserver | null = null;

/** Sets (null: clears) the one observer of every store transaction in this process (the service's metrics). */
export function observeTransactions(next: TransactionObserver | null): void {
  observer = next;
}

/** The observer, if any: read once per transaction, so timing costs nothing when nobody observes. */
export function transactionObserver(): TransactionObserver | null {
  return observer;
}

/**
 * Counts the round trips on `client` and the time a statement was outstanding, until `stop()`
 * (which puts the client's own `query` back, before the client returns to the pool). Outstanding
 * time is a union: statements `pg` queued behind another are not counted twice.
 */
export function timeRoundTrips(client: PoolClient): { stop(): { roundTrips: number; postgresSeconds: number } } {
  // An own `query` (another wrapper's) is put back as it was; otherwise the prototype's shows through again.
  const own = Object.getOwnPropertyDescriptor(client, 'query');
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let roundTrips = 0;
  let outstanding = 0;
  let since = 0;
  let busyMs = 0;
  const settled = () => {
    outstanding--;
    if (outstanding === 0) busyMs += performance.now() - since;
  };
  const timed = (...args: unknown[]): unknown => {
    roundTrips++;
    if (outstanding === 0) since = performance.now();
    outstanding++;
    const result = query(...args);
    if (result instanceof Promise) result.then(settled, settled);
    else settled(); // a callback or submittable query: counted, not timed (the store sends none)
    return result;
  };
  client.query = timed as PoolClient['query'];
  return {
    stop() {
      if (own) Object.defineProperty(client, 'query', own);
      else delete (client as Partial<Pick<PoolClient, 'query'>>).query;
      return { roundTrips, postgresSeconds: (busyMs + (outstanding > 0 ? performance.now() - since : 0)) / 1000 };
    },
  };
}
