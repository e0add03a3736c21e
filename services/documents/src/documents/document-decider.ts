import { decideLock, type LockCommand } from '../locks/decide.js';
import { decideRestore, type RestoreVersion } from '../versions/decide.js';
import { decideDocument, type DocumentCommand } from './decide.js';
import { evolve, initialDocumentState, type DocumentEvent, type DocumentState } from './document.js';

/** Every command on a document's stream: its content (here), its edit lock (locks/) and restores (versions/). */
export type DocumentStreamCommand = DocumentCommand | LockCommand | RestoreVersion;

/** The decider of one document's stream: content, lock and restores decide against one state. */
export function decide(command: DocumentStreamCommand, state: DocumentState): DocumentEvent[] {
  switch (command.type) {
    case 'CreateDocument':
    case 'SaveDocument':
      return decideDocument(command, state);
    case 'RestoreVersion':
      return decideRestore(command, state);
    default:
      return decideLock(command, state);
  }
}

export const documentDecider = { decide, evolve, initialState: initialDocumentState };
