import { diffLines } from 'diff';

/** One line of a comparison: in both texts, only in the newer (added) or only in the older (removed). */
export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

export interface VersionDiff {
  lines: DiffLine[];
  added: number;
  removed: number;
}

/** The line-by-line changes from `older` to `newer` (jsdiff's Myers diff), as a reader follows them. */
export function diffVersions(older: string, newer: string): VersionDiff {
  const lines: DiffLine[] = [];
  let added = 0;
  let removed = 0;
  for (const part of diffLines(older, newer)) {
    const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
    // A part ends with the newline of its last line; without one it is the text's last line.
    const texts = part.value.replace(/\n$/, '').split('\n');
    for (const text of texts) lines.push({ kind, text });
    if (kind === 'added') added += texts.length;
    if (kind === 'removed') removed += texts.length;
  }
  return { lines, added, removed };
}

/**
 * Long unchanged runs folded to their edges, as code review tools show them: `context` lines on
 * each side of a change stay; a fold says how many lines it hides.
 */
export function foldUnchanged(lines: readonly DiffLine[], context = 3): (DiffLine | { kind: 'fold'; hidden: number })[] {
  const near = lines.map(() => false);
  lines.forEach((l, i) => {
    if (l.kind === 'same') return;
    for (let j = Math.max(0, i - context); j <= Math.min(lines.length - 1, i + context); j++) near[j] = true;
  });
  const out: (DiffLine | { kind: 'fold'; hidden: number })[] = [];
  let hidden = 0;
  lines.forEach((l, i) => {
    if (l.kind === 'same' && !near[i]) {
      hidden++;
      return;
    }
    if (hidden > 0) out.push({ kind: 'fold', hidden });
    hidden = 0;
    out.push(l);
  });
  if (hidden > 0) out.push({ kind: 'fold', hidden });
  return out;
}
