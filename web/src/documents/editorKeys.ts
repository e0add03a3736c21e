/** The modifier and key state of a keydown, as the DOM gives it. */
export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  /** An IME is composing: its keys belong to the text being composed. */
  isComposing?: boolean;
}

/**
 * What a key does while editing a document, as in other editors: Ctrl+S (⌘S on a Mac) saves
 * instead of saving the web page; Escape stops editing (which saves first).
 */
export function editorShortcut(e: KeyPress): 'save' | 'stop' | null {
  if (e.isComposing) return null;
  if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 's') return 'save';
  if (e.key === 'Escape' && !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey) return 'stop';
  return null;
}
