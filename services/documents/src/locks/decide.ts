import { AppError, type Role } from '@siteflow/contracts';
import { isLapsed, leaseEnd, type DocumentEvent, type DocumentState, type LockPolicy, type LockReleased } from '../documents/document.js';

/** Who asks: a user on one connection (a second tab is another connection). */
export type LockActor = { userId: number; username: string; role: Role; connectionId: string };

export type AcquireLock = { type: 'AcquireLock'; data: { actor: LockActor; takeOver: boolean; now: Date; policy: LockPolicy } };
export type RenewLock = { type: 'RenewLock'; data: { actor: LockActor; now: Date; policy: LockPolicy } };
export type ReleaseLock = { type: 'ReleaseLock'; data: { actor: LockActor; now: Date } };
export type ForceReleaseLock = { type: 'ForceReleaseLock'; data: { actor: LockActor; reason: string | undefined; now: Date } };
/** The sweep: releases a lock whose lease or idle cap has passed. */
export type ExpireLock = { type: 'ExpireLock'; data: { now: Date } };
/** The holding connection is gone (socket closed, or presence evicted it). */
export type ReleaseConnectionLock = { type: 'ReleaseConnectionLock'; data: { connectionId: string; now: Date } };
export type LockCommand = AcquireLock | RenewLock | ReleaseLock | ForceReleaseLock | ExpireLock | ReleaseConnectionLock;

type Existing = Extract<DocumentState, { status: 'exists' }>;

function existing(state: DocumentState): Existing {
  if (state.status === 'absent') throw new AppError('not_found', 'no such document');
  return state;
}

function released(
  state: Existing,
  reason: LockReleased['data']['reason'],
  now: Date,
  extra: Partial<LockReleased['data']> = {},
): LockReleased {
  const lock = state.lock;
  if (!lock) throw new Error('released a lock that is not held');
  return {
    type: 'LockReleased',
    data: {
      document_id: state.documentId,
      project_id: state.projectId,
      user_id: lock.userId,
      connection_id: lock.connectionId,
      reason,
      released_at: now.toISOString(),
      ...extra,
    },
  };
}

/** Pure: what a lock command does to a document. Time, policy and the actor come in with the command. */
export function decideLock(command: LockCommand, state: DocumentState): DocumentEvent[] {
  switch (command.type) {
    case 'AcquireLock': {
      const doc = existing(state);
      const { actor, now, policy, takeOver } = command.data;
      const lock = doc.lock && !isLapsed(doc.lock, now) ? doc.lock : null;
      const events: DocumentEvent[] = [];
      if (lock) {
        if (lock.connectionId === actor.connectionId) {
          return [
            {
              type: 'LockRenewed',
              data: {
                document_id: doc.documentId,
                project_id: doc.projectId,
                user_id: actor.userId,
                connection_id: actor.connectionId,
                renewed_at: now.toISOString(),
                expires_at: leaseEnd(now, lock.idleSince, policy),
              },
            },
          ];
        }
        if (lock.userId !== actor.userId) {
          throw new AppError('locked', `Document is being edited by ${lock.username}`, {
            user_id: lock.userId,
            username: lock.username,
            locked_at: lock.lockedAt,
            expires_at: lock.expiresAt,
          });
        }
        if (!takeOver) {
          throw new AppError('locked', 'You are editing this document in another window; take over to edit here', {
            user_id: lock.userId,
            username: lock.username,
            locked_at: lock.lockedAt,
            expires_at: lock.expiresAt,
            same_user: true,
          });
        }
        events.push(released(doc, 'released', now));
      } else if (doc.lock) {
        // Lapsed but not swept yet: record the expiry first, so the history never shows two holders.
        events.push(released(doc, 'expired', now));
      }
      events.push({
        type: 'LockAcquired',
        data: {
          document_id: doc.documentId,
          project_id: doc.projectId,
          user_id: actor.userId,
          username: actor.username,
          connection_id: actor.connectionId,
          locked_at: now.toISOString(),
          expires_at: leaseEnd(now, now.toISOString(), policy),
        },
      });
      return events;
    }
    case 'RenewLock': {
      const doc = existing(state);
      const { actor, now, policy } = command.data;
      if (!doc.lock || isLapsed(doc.lock, now) || doc.lock.connectionId !== actor.connectionId) {
        throw new AppError('not_lock_holder', 'you do not hold the lock on this document');
      }
      return [
        {
          type: 'LockRenewed',
          data: {
            document_id: doc.documentId,
            project_id: doc.projectId,
            user_id: actor.userId,
            connection_id: actor.connectionId,
            renewed_at: now.toISOString(),
            expires_at: leaseEnd(now, doc.lock.idleSince, policy),
          },
        },
      ];
    }
    case 'ReleaseLock': {
      const doc = existing(state);
      // Stopping what one does not hold (any more) changes nothing: the client's intent is met.
      if (!doc.lock || doc.lock.connectionId !== command.data.actor.connectionId) return [];
      return [released(doc, 'released', command.data.now)];
    }
    case 'ForceReleaseLock': {
      const doc = existing(state);
      const { actor, now, reason } = command.data;
      if (actor.role !== 'admin') throw new AppError('forbidden', 'only an admin may force-release a lock');
      if (!doc.lock) throw new AppError('not_found', 'this document is not locked');
      const who = { by_user_id: actor.userId, by_username: actor.username, ...(reason === undefined ? {} : { note: reason }) };
      return [
        released(doc, 'revoked', now, who),
        {
          type: 'LockRevoked',
          data: {
            document_id: doc.documentId,
            project_id: doc.projectId,
            user_id: doc.lock.userId,
            by_user_id: actor.userId,
            by_username: actor.username,
            ...(reason === undefined ? {} : { reason }),
            revoked_at: now.toISOString(),
          },
        },
      ];
    }
    case 'ExpireLock': {
      if (state.status === 'absent' || !state.lock || !isLapsed(state.lock, command.data.now)) return [];
      return [released(state, 'expired', command.data.now)];
    }
    case 'ReleaseConnectionLock': {
      if (state.status === 'absent' || !state.lock || state.lock.connectionId !== command.data.connectionId) return [];
      return [released(state, 'disconnected', command.data.now)];
    }
    default: {
      const unknown: never = command;
      throw new AppError('invalid_payload', `unknown command ${JSON.stringify(unknown)}`);
    }
  }
}
