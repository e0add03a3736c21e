import { describe, expect, it } from 'vitest';
import type { DocumentStreamCommand } from './document-decider.js';
import { DOCUMENT_MAX_BYTES } from '@siteflow/contracts';
import { contentSha256, evolve, initialDocumentState, type DocumentEvent } from './document.js';
import { at, bobTab1, bobTab2, carol, created, given, iso, lockedBy, policy } from '../test-fixtures/given.js';
import type { LockActor } from '../locks/decide.js';

const save = (actor: LockActor, content: string, baseVersion: number, ms = 10_000, auto = false) =>
  ({ type: 'SaveDocument', data: { actor, content, baseVersion, auto, now: at(ms), policy } }) satisfies DocumentStreamCommand;
const saved = (version: number, content: string, ms = 10_000, auto = false): DocumentEvent => ({
  type: 'DocumentSaved',
  data: {
    document_id: 5,
    project_id: 1,
    version,
    content,
    size: Buffer.byteLength(content, 'utf8'),
    saved_by: 2,
    saved_by_name: 'bob',
    connection_id: 'c-bob-1',
    saved_at: iso(ms),
    auto,
    restored_from: null,
    lock_expires_at: iso(ms + policy.leaseMs),
  },
});

describe('document decider', () => {
  it('creates a document at version 1', () => {
    given([])
      .when({
        type: 'CreateDocument',
        data: {
          documentId: 5,
          projectId: 1,
          documentType: 'timeline',
          title: 'Timeline',
          content: '# Timeline\n',
          createdBy: null,
          now: at(0),
        },
      } satisfies DocumentStreamCommand)
      .then([created]);
    expect([created].reduce(evolve, initialDocumentState)).toMatchObject({ version: 1, contentSha256: contentSha256('# Timeline\n') });
  });

  it("the state keeps the content's SHA-256 of its UTF-8, not the content", () => {
    // Known digests (sha256sum of the same bytes): what Postgres' sha256(convert_to(content, 'UTF8')) gives too.
    expect(contentSha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(contentSha256('å')).toBe('e83979df9d36090142f23051f8e8d7ad48e5c20dff5c9e7b92ca3454f67469f9');
    const after = [created, lockedBy(bobTab1), saved(2, 'two')].reduce(evolve, initialDocumentState);
    expect(after).not.toHaveProperty('content');
    expect(after).toMatchObject({ contentSha256: contentSha256('two') });
  });

  it('refuses to create a document twice', () => {
    given([created])
      .when({
        type: 'CreateDocument',
        data: { documentId: 5, projectId: 1, documentType: 'timeline', title: 'T', content: '', createdBy: null, now: at(0) },
      } satisfies DocumentStreamCommand)
      .thenFails('already_exists');
  });

  it('a save by the lock holder on the current version is the next version and renews the lease', () => {
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, '# Timeline\n\nWeek 1', 1))
      .then([saved(2, '# Timeline\n\nWeek 1')]);
    const after = [created, lockedBy(bobTab1), saved(2, 'x')].reduce(evolve, initialDocumentState);
    expect(after).toMatchObject({
      version: 2,
      contentSha256: contentSha256('x'),
      lastEditedBy: 2,
      lock: { expiresAt: iso(10_000 + policy.leaseMs), idleSince: iso(10_000) },
    });
  });

  it('only the holding connection may save', () => {
    given([created])
      .when(save(bobTab1, 'x', 1))
      .thenFails('not_lock_holder');
    given([created, lockedBy(bobTab1)])
      .when(save(carol, 'x', 1))
      .thenFails('not_lock_holder', /bob is editing it/);
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab2, 'x', 1))
      .thenFails('not_lock_holder');
  });

  it('a save after the lease lapsed is refused, even by the former holder', () => {
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, 'x', 1, policy.leaseMs))
      .thenFails('not_lock_holder');
  });

  it('a save based on an older version is a version_conflict naming the current version', () => {
    const g = given([created, lockedBy(bobTab1), saved(2, 'two'), saved(3, 'three', 20_000)]);
    g.when(save(bobTab1, 'stale', 2, 30_000)).thenFails('version_conflict', /version 3/);
    g.when(save(bobTab1, 'stale', 2, 30_000)).thenFails('version_conflict', { current_version: 3 });
  });

  it('content is bounded by 512 KiB of UTF-8 bytes, not characters', () => {
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, 'a'.repeat(DOCUMENT_MAX_BYTES), 1))
      .then([saved(2, 'a'.repeat(DOCUMENT_MAX_BYTES))]);
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, 'a'.repeat(DOCUMENT_MAX_BYTES + 1), 1))
      .thenFails('payload_too_large');
    // 'å' is 2 bytes: half the characters already fill the limit.
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, 'å'.repeat(DOCUMENT_MAX_BYTES / 2 + 1), 1))
      .thenFails('payload_too_large');
  });

  it('an auto-save of unchanged text makes no version but renews the lease', () => {
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, '# Timeline\n', 1, 10_000, true))
      .then([
        {
          type: 'LockRenewed',
          data: {
            document_id: 5,
            project_id: 1,
            user_id: 2,
            connection_id: 'c-bob-1',
            renewed_at: iso(10_000),
            expires_at: iso(10_000 + policy.leaseMs),
          },
        },
      ]);
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, 'changed', 1, 10_000, true))
      .then([saved(2, 'changed', 10_000, true)]);
  });

  it('an explicit save of unchanged text is still a version (the user asked for it)', () => {
    given([created, lockedBy(bobTab1)])
      .when(save(bobTab1, '# Timeline\n', 1))
      .then([saved(2, '# Timeline\n')]);
  });
});
