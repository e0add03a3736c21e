/** A short notice in the corner. A toast with a `key` replaces the earlier one with that key. */
export interface Toast {
  id: number;
  key?: string;
  text: string;
  tone: 'info' | 'warn';
  action?: { label: string; run: () => void };
}

/** More than this many at once would cover the room; the oldest goes first. */
export const MAX_TOASTS = 4;

export function addToast(toasts: readonly Toast[], toast: Toast): Toast[] {
  const rest = toast.key === undefined ? [...toasts] : toasts.filter((t) => t.key !== toast.key);
  return [...rest, toast].slice(-MAX_TOASTS);
}

export const removeToast = (toasts: readonly Toast[], id: number): Toast[] => toasts.filter((t) => t.id !== id);
