import { deciderSpec } from '@siteflow/testing/decider';
import { documentDecider } from '../documents/document-decider.js';
import type { DocumentEvent, LockPolicy } from '../documents/document.js';
import type { LockActor } from '../locks/decide.js';

/** Fixtures shared by the document deciders' given/when/then tests. */
export const T0 = new Date('2026-11-24T09:00:00.000Z');
export const at = (ms: number) => new Date(T0.getTime() + ms);
export const iso = (ms: number) => at(ms).toISOString();
export const policy: LockPolicy = { leaseMs: 120_000, idleCapMs: 30 * 60_000 };

export const bobTab1: LockActor = { userId: 2, username: 'bob', role: 'customer', connectionId: 'c-bob-1' };
export const bobTab2: LockActor = { userId: 2, username: 'bob', role: 'customer', connectionId: 'c-bob-2' };
export const carol: LockActor = { userId: 3, username: 'carol', role: 'customer', connectionId: 'c-carol' };
export const alice: LockActor = { userId: 1, username: 'alice', role: 'admin', connectionId: 'c-alice' };

export const created: DocumentEvent = {
  type: 'DocumentCreated',
  data: {
    document_id: 5,
    project_id: 1,
    document_type: 'timeline',
    title: 'Timeline',
    content: '# Timeline\n',
    created_by: null,
    created_at: T0.toISOString(),
  },
};

export const lockedBy = (a: LockActor, ms = 0): DocumentEvent => ({
  type: 'LockAcquired',
  data: {
    document_id: 5,
    project_id: 1,
    user_id: a.userId,
    username: a.username,
    connection_id: a.connectionId,
    locked_at: iso(ms),
    expires_at: iso(ms + policy.leaseMs),
  },
});

/** given(history).when(command).then(events) | thenFails(code, message?): the one decider helper, on a document's stream. */
export const given = deciderSpec(documentDecider);
