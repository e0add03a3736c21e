/**
 * The documents this tab is editing, each with the way to end its edit properly (save, then
 * release): an edit request's "Hand over" reaches the editor from outside the document view.
 */
const sessions = new Map<number, () => Promise<boolean>>();

/** Registers the open edit of a document; returns the unregistration (an effect's cleanup). */
export function holdEditSession(documentId: number, stop: () => Promise<boolean>): () => void {
  sessions.set(documentId, stop);
  return () => {
    if (sessions.get(documentId) === stop) sessions.delete(documentId);
  };
}

export const isEditing = (documentId: number): boolean => sessions.has(documentId);

/** Saves and releases the lock on a document this tab edits; false when it does not or that failed. */
export async function handOver(documentId: number): Promise<boolean> {
  const stop = sessions.get(documentId);
  return stop ? stop() : false;
}
