import { AppError } from '@siteflow/contracts';
import { assertLockHolder, newVersion } from '../documents/decide.js';
import type { DocumentEvent, DocumentState, LockPolicy } from '../documents/document.js';
import type { LockActor } from '../locks/decide.js';

/**
 * Makes an old version's content the new current version. The old content is read by the caller
 * from the version history (the document state holds only the current content).
 */
export type RestoreVersion = {
  type: 'RestoreVersion';
  data: { actor: LockActor; version: number; content: string | null; now: Date; policy: LockPolicy };
};

export function decideRestore(command: RestoreVersion, state: DocumentState): DocumentEvent[] {
  const { actor, version, content, now, policy } = command.data;
  assertLockHolder(state, actor, now);
  if (content === null || version > state.version) throw new AppError('not_found', `version ${version} does not exist`);
  // Nothing is overwritten in place: even restoring the current version's text is a new version,
  // so the history says who went back to what, and when.
  return [newVersion(state, { actor, content, auto: false, restoredFrom: version, now, policy })];
}
