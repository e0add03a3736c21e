import { AppError, DOCUMENT_MAX_BYTES, type DocumentType } from '@siteflow/contracts';
import {
  contentSha256,
  isLapsed,
  leaseEnd,
  utf8Bytes,
  type DocumentEvent,
  type DocumentSaved,
  type DocumentState,
  type LockPolicy,
} from './document.js';
import type { LockActor } from '../locks/decide.js';

export type CreateDocument = {
  type: 'CreateDocument';
  data: {
    documentId: number;
    projectId: number;
    documentType: DocumentType;
    title: string;
    content: string;
    createdBy: number | null;
    now: Date;
  };
};
export type SaveDocument = {
  type: 'SaveDocument';
  data: { actor: LockActor; content: string; baseVersion: number; auto: boolean; now: Date; policy: LockPolicy };
};
export type DocumentCommand = CreateDocument | SaveDocument;

/** Only the live holding connection may write; a lapsed lock is no lock. */
export function assertLockHolder(
  state: DocumentState,
  actor: LockActor,
  now: Date,
): asserts state is Extract<DocumentState, { status: 'exists' }> {
  if (state.status === 'absent') throw new AppError('not_found', 'no such document');
  const lock = state.lock;
  if (!lock || isLapsed(lock, now) || lock.connectionId !== actor.connectionId) {
    const detail = lock && !isLapsed(lock, now) ? `; ${lock.username} is editing it` : '';
    throw new AppError('not_lock_holder', `you do not hold the lock on this document${detail}`);
  }
}

/** The next content version, written by the lock holder (a save, an auto-save or a restore). */
export function newVersion(
  state: Extract<DocumentState, { status: 'exists' }>,
  input: { actor: LockActor; content: string; auto: boolean; restoredFrom: number | null; now: Date; policy: LockPolicy },
): DocumentSaved {
  return {
    type: 'DocumentSaved',
    data: {
      document_id: state.documentId,
      project_id: state.projectId,
      version: state.version + 1,
      content: input.content,
      size: utf8Bytes(input.content),
      saved_by: input.actor.userId,
      saved_by_name: input.actor.username,
      connection_id: input.actor.connectionId,
      saved_at: input.now.toISOString(),
      auto: input.auto,
      restored_from: input.restoredFrom,
      // The save itself restarts the idle cap, so the lease runs from now.
      lock_expires_at: leaseEnd(input.now, input.now.toISOString(), input.policy),
    },
  };
}

export function decideDocument(command: DocumentCommand, state: DocumentState): DocumentEvent[] {
  switch (command.type) {
    case 'CreateDocument': {
      if (state.status === 'exists') throw new AppError('already_exists', `document ${command.data.documentId} already exists`);
      const d = command.data;
      if (utf8Bytes(d.content) > DOCUMENT_MAX_BYTES)
        throw new AppError('payload_too_large', `content is larger than ${DOCUMENT_MAX_BYTES} bytes`);
      return [
        {
          type: 'DocumentCreated',
          data: {
            document_id: d.documentId,
            project_id: d.projectId,
            document_type: d.documentType,
            title: d.title,
            content: d.content,
            created_by: d.createdBy,
            created_at: d.now.toISOString(),
          },
        },
      ];
    }
    case 'SaveDocument': {
      const { actor, content, baseVersion, auto, now, policy } = command.data;
      assertLockHolder(state, actor, now);
      const bytes = utf8Bytes(content);
      if (bytes > DOCUMENT_MAX_BYTES) {
        throw new AppError(
          'payload_too_large',
          `content is ${bytes} bytes; a document holds at most ${DOCUMENT_MAX_BYTES} bytes (512 KiB)`,
          {
            size: bytes,
            max: DOCUMENT_MAX_BYTES,
          },
        );
      }
      if (baseVersion !== state.version) {
        throw new AppError(
          'version_conflict',
          `this save is based on version ${baseVersion}, but the document is at version ${state.version}`,
          {
            current_version: state.version,
          },
        );
      }
      // An auto-save of unchanged text is no new version, but it shows the holder is still there.
      if (auto && contentSha256(content) === state.contentSha256) {
        return [
          {
            type: 'LockRenewed',
            data: {
              document_id: state.documentId,
              project_id: state.projectId,
              user_id: actor.userId,
              connection_id: actor.connectionId,
              renewed_at: now.toISOString(),
              expires_at: leaseEnd(now, state.lock?.idleSince ?? now.toISOString(), policy),
            },
          },
        ];
      }
      return [newVersion(state, { actor, content, auto, restoredFrom: null, now, policy })];
    }
    default: {
      const unknown: never = command;
      throw new AppError('invalid_payload', `unknown command ${JSON.stringify(unknown)}`);
    }
  }
}
