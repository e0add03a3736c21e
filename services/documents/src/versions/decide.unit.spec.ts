import { describe, it } from 'vitest';
import type { DocumentStreamCommand } from '../documents/document-decider.js';
import type { DocumentEvent } from '../documents/document.js';
import { at, bobTab1, carol, created, given, iso, lockedBy, policy } from '../test-fixtures/given.js';
import type { LockActor } from '../locks/decide.js';

const restore = (actor: LockActor, version: number, content: string | null) =>
  ({ type: 'RestoreVersion', data: { actor, version, content, now: at(50_000), policy } }) satisfies DocumentStreamCommand;
const savedV2: DocumentEvent = {
  type: 'DocumentSaved',
  data: {
    document_id: 5,
    project_id: 1,
    version: 2,
    content: 'two',
    size: 3,
    saved_by: 2,
    saved_by_name: 'bob',
    connection_id: 'c-bob-1',
    saved_at: iso(10_000),
    auto: false,
    restored_from: null,
    lock_expires_at: iso(10_000 + policy.leaseMs),
  },
};

describe('version restore decider', () => {
  it('restoring an old version makes its content a new version; nothing is overwritten', () => {
    given([created, lockedBy(bobTab1), savedV2])
      .when(restore(bobTab1, 1, '# Timeline\n'))
      .then([
        {
          type: 'DocumentSaved',
          data: {
            document_id: 5,
            project_id: 1,
            version: 3,
            content: '# Timeline\n',
            size: 11,
            saved_by: 2,
            saved_by_name: 'bob',
            connection_id: 'c-bob-1',
            saved_at: iso(50_000),
            auto: false,
            restored_from: 1,
            lock_expires_at: iso(50_000 + policy.leaseMs),
          },
        },
      ]);
  });

  it('only the lock holder may restore', () => {
    given([created, lockedBy(bobTab1), savedV2])
      .when(restore(carol, 1, '# Timeline\n'))
      .thenFails('not_lock_holder');
    given([created, savedV2])
      .when(restore(bobTab1, 1, '# Timeline\n'))
      .thenFails('not_lock_holder');
  });

  it('a version that does not exist is not_found', () => {
    given([created, lockedBy(bobTab1), savedV2])
      .when(restore(bobTab1, 7, null))
      .thenFails('not_found');
  });
});
