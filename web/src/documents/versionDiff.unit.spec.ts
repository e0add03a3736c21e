import { describe, expect, it } from 'vitest';
import { diffVersions, foldUnchanged } from './versionDiff.js';

describe('comparing versions', () => {
  it('lists lines added, removed and kept, with counts', () => {
    const d = diffVersions(
      '# Timeline\n| Build | 5–9 |\n| Launch | 10 |\n',
      '# Timeline\n| Build | 5–8 |\n| Launch | 10 |\n| Review | 11 |\n',
    );
    expect(d.lines).toEqual([
      { kind: 'same', text: '# Timeline' },
      { kind: 'removed', text: '| Build | 5–9 |' },
      { kind: 'added', text: '| Build | 5–8 |' },
      { kind: 'same', text: '| Launch | 10 |' },
      { kind: 'added', text: '| Review | 11 |' },
    ]);
    expect([d.added, d.removed]).toEqual([2, 1]);
  });

  it('finds no change between equal texts, and a last line without a newline is a line', () => {
    expect(diffVersions('a\nb', 'a\nb')).toMatchObject({ added: 0, removed: 0 });
    expect(
      diffVersions('a', 'a\nb')
        .lines.filter((l) => l.kind !== 'same')
        .map((l) => l.text),
    ).toEqual(expect.arrayContaining(['b']));
  });

  it('folds long unchanged runs away from the changes', () => {
    const older = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    const newer = older.replace('line 10', 'line ten');
    const folded = foldUnchanged(diffVersions(older, newer).lines, 2);
    expect(folded[0]).toEqual({ kind: 'fold', hidden: 8 });
    expect(folded.filter((l) => l.kind !== 'fold').map((l) => ('text' in l ? l.text : ''))).toEqual([
      'line 8',
      'line 9',
      'line 10',
      'line ten',
      'line 11',
      'line 12',
    ]);
    expect(folded.at(-1)).toEqual({ kind: 'fold', hidden: 7 });
  });
});
