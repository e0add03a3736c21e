import { expect } from 'vitest';
import { AppError } from '@siteflow/contracts';
import { evolve, initialDocumentState, type DocumentEvent, type DocumentState, type LockPolicy } from '../documents/document.js';
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

/** given(history).when(decide).then(events) | thenFails(code) */
export function given(events: DocumentEvent[]) {
  const state: DocumentState = events.reduce(evolve, initialDocumentState);
  return {
    state,
    when: (decide: (s: DocumentState) => DocumentEvent[]) => ({
      then: (expected: DocumentEvent[]) => expect(decide(state)).toEqual(expected),
      thenFails: (code: string, message?: RegExp) => {
        try {
          decide(state);
          expect.unreachable('decide should have refused the command');
        } catch (e) {
          expect(e).toBeInstanceOf(AppError);
          expect((e as AppError).code).toBe(code);
          if (message) expect((e as AppError).message).toMatch(message);
        }
      },
    }),
  };
}
