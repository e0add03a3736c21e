import { describe, expect, it } from 'vitest';
import { decide, type DocumentStreamCommand } from '../documents/document-decider.js';
import { evolve, initialDocumentState, type DocumentEvent } from '../documents/document.js';
import { alice, at, bobTab1, bobTab2, carol, created, given, iso, lockedBy, policy } from '../test-fixtures/given.js';
import type { LockActor } from './decide.js';

const acquire = (actor: LockActor, ms: number, takeOver = false) =>
  ({ type: 'AcquireLock', data: { actor, takeOver, now: at(ms), policy } }) satisfies DocumentStreamCommand;
const released = (a: LockActor, reason: string, ms: number, extra = {}): DocumentEvent =>
  ({
    type: 'LockReleased',
    data: { document_id: 5, project_id: 1, user_id: a.userId, connection_id: a.connectionId, reason, released_at: iso(ms), ...extra },
  }) as DocumentEvent;

describe('edit lock decider', () => {
  it('gives a free document to the first asker, with a lease of LOCK_LEASE_MS', () => {
    given([created])
      .when(acquire(bobTab1, 1000))
      .then([lockedBy(bobTab1, 1000)]);
  });

  it('refuses another user while the lock is held, naming the holder', () => {
    given([created, lockedBy(bobTab1)])
      .when(acquire(carol, 1000))
      .thenFails('locked', /being edited by bob/);
  });

  it('refuses a second tab of the holder unless it explicitly takes over', () => {
    given([created, lockedBy(bobTab1)])
      .when(acquire(bobTab2, 1000))
      .thenFails('locked', /another window/);
    given([created, lockedBy(bobTab1)])
      .when(acquire(bobTab2, 1000, true))
      .then([released(bobTab1, 'released', 1000), lockedBy(bobTab2, 1000)]);
  });

  it('take_over never takes another user’s lock', () => {
    given([created, lockedBy(bobTab1)])
      .when(acquire(carol, 1000, true))
      .thenFails('locked');
  });

  it('the same connection re-acquiring refreshes its lease', () => {
    given([created, lockedBy(bobTab1)])
      .when(acquire(bobTab1, 60_000))
      .then([
        {
          type: 'LockRenewed',
          data: { document_id: 5, project_id: 1, user_id: 2, connection_id: 'c-bob-1', renewed_at: iso(60_000), expires_at: iso(180_000) },
        },
      ]);
  });

  it('a lapsed lock is free: its expiry is recorded before the new holder takes it', () => {
    given([created, lockedBy(bobTab1)])
      .when(acquire(carol, policy.leaseMs))
      .then([released(bobTab1, 'expired', policy.leaseMs), lockedBy(carol, policy.leaseMs)]);
  });

  it('a heartbeat of the holder renews the lease, but never beyond the idle cap after the last save', () => {
    const renew = (ms: number) => ({ type: 'RenewLock', data: { actor: bobTab1, now: at(ms), policy } }) satisfies DocumentStreamCommand;
    given([created, lockedBy(bobTab1)])
      .when(renew(30_000))
      .then([
        {
          type: 'LockRenewed',
          data: { document_id: 5, project_id: 1, user_id: 2, connection_id: 'c-bob-1', renewed_at: iso(30_000), expires_at: iso(150_000) },
        },
      ]);
    // 29 minutes in, without a save: the lease ends at the 30-minute cap, not 2 minutes later.
    let history: DocumentEvent[] = [created, lockedBy(bobTab1)];
    for (let m = 1; m <= 29; m++) history = [...history, ...decide(renew(m * 60_000), history.reduce(evolve, initialDocumentState))];
    given(history)
      .when(renew(29 * 60_000 + 30_000))
      .then([
        expect.objectContaining({
          type: 'LockRenewed',
          data: expect.objectContaining({ expires_at: iso(30 * 60_000) }) as unknown,
        }) as DocumentEvent,
      ]);
  });

  it('a heartbeat from anyone but the holding connection is not_lock_holder', () => {
    const renew = (a: LockActor, ms: number) =>
      ({ type: 'RenewLock', data: { actor: a, now: at(ms), policy } }) satisfies DocumentStreamCommand;
    given([created, lockedBy(bobTab1)])
      .when(renew(bobTab2, 1000))
      .thenFails('not_lock_holder');
    given([created]).when(renew(bobTab1, 1000)).thenFails('not_lock_holder');
    given([created, lockedBy(bobTab1)])
      .when(renew(bobTab1, policy.leaseMs + 1))
      .thenFails('not_lock_holder');
  });

  it('stop releases the holder’s lock and leaves anyone else’s alone', () => {
    const stop = (a: LockActor) => ({ type: 'ReleaseLock', data: { actor: a, now: at(5000) } }) satisfies DocumentStreamCommand;
    given([created, lockedBy(bobTab1)])
      .when(stop(bobTab1))
      .then([released(bobTab1, 'released', 5000)]);
    given([created, lockedBy(bobTab1)])
      .when(stop(carol))
      .then([]);
    given([created, lockedBy(bobTab1)])
      .when(stop(bobTab2))
      .then([]);
  });

  it('the sweep expires a lapsed lock once, and nothing else', () => {
    const expire = (ms: number) => ({ type: 'ExpireLock', data: { now: at(ms) } }) satisfies DocumentStreamCommand;
    given([created, lockedBy(bobTab1)])
      .when(expire(policy.leaseMs - 1))
      .then([]);
    given([created, lockedBy(bobTab1)])
      .when(expire(policy.leaseMs))
      .then([released(bobTab1, 'expired', policy.leaseMs)]);
    given([created, lockedBy(bobTab1), released(bobTab1, 'expired', policy.leaseMs)])
      .when(expire(policy.leaseMs + 5000))
      .then([]);
  });

  it('a gone connection (closed or evicted) loses its lock; another connection’s lock stays', () => {
    const gone = (connectionId: string) =>
      ({ type: 'ReleaseConnectionLock', data: { connectionId, now: at(2000) } }) satisfies DocumentStreamCommand;
    given([created, lockedBy(bobTab1)])
      .when(gone('c-bob-1'))
      .then([released(bobTab1, 'disconnected', 2000)]);
    given([created, lockedBy(bobTab1)])
      .when(gone('c-bob-2'))
      .then([]);
  });

  it('an admin force-release is recorded with who and why, and tells the former holder', () => {
    const force = (a: LockActor) =>
      ({ type: 'ForceReleaseLock', data: { actor: a, reason: 'bob is on holiday', now: at(3000) } }) satisfies DocumentStreamCommand;
    given([created, lockedBy(bobTab1)])
      .when(force(alice))
      .then([
        released(bobTab1, 'revoked', 3000, { by_user_id: 1, by_username: 'alice', note: 'bob is on holiday' }),
        {
          type: 'LockRevoked',
          data: {
            document_id: 5,
            project_id: 1,
            user_id: 2,
            by_user_id: 1,
            by_username: 'alice',
            reason: 'bob is on holiday',
            revoked_at: iso(3000),
          },
        },
      ]);
    given([created, lockedBy(bobTab1)])
      .when(force(carol))
      .thenFails('forbidden');
    given([created]).when(force(alice)).thenFails('not_found');
  });

  it('refuses every lock command on a document that does not exist', () => {
    given([]).when(acquire(bobTab1, 0)).thenFails('not_found');
  });
});
