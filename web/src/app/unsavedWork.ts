/**
 * Work that leaving the app would lose (an unsaved draft), asked for before signing out. Pages
 * register what they hold; the shell, which knows nothing of documents, asks them all.
 */
export type UnsavedWork = () => string | null;

const holders = new Set<UnsavedWork>();

/** Registers a source of unsaved work; returns the unregistration (an effect's cleanup). */
export function holdUnsavedWork(describe: UnsavedWork): () => void {
  holders.add(describe);
  return () => {
    holders.delete(describe);
  };
}

/** What would be lost, one description per holder that has something, in registration order. */
export function unsavedWork(): string[] {
  return [...holders].map((describe) => describe()).filter((d): d is string => d !== null);
}

/** The question to ask before signing out, or null when nothing would be lost. */
export function signOutQuestion(lost: readonly string[]): string | null {
  if (lost.length === 0) return null;
  return `Your unsaved text in ${lost.join(', ')} will be lost if you sign out. Sign out anyway?`;
}
