/** The parts of a click that decide whether the router or the browser handles a link. */
export interface LinkClick {
  button: number;
  defaultPrevented: boolean;
  metaKey: boolean;
  altKey: boolean;
  ctrlKey: boolean;
  shiftKey: boolean;
  target?: string | null;
}

/** A plain left click on a same-window link is ours; modified clicks open tabs/windows as usual. */
export function isPlainLeftClick(e: LinkClick): boolean {
  return (
    e.button === 0 && !e.defaultPrevented && !e.metaKey && !e.altKey && !e.ctrlKey && !e.shiftKey && (!e.target || e.target === '_self')
  );
}
