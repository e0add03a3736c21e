import { describe, expect, it } from 'vitest';
import { holdUnsavedWork, signOutQuestion, unsavedWork } from './unsavedWork.js';

describe('unsaved work before signing out', () => {
  it('asks only while some holder has unsaved text, naming it', () => {
    let draft: string | null = null;
    const release = holdUnsavedWork(() => draft);
    expect(signOutQuestion(unsavedWork())).toBeNull();
    draft = '“Timeline”';
    expect(signOutQuestion(unsavedWork())).toBe('Your unsaved text in “Timeline” will be lost if you sign out. Sign out anyway?');
    release();
    expect(unsavedWork()).toEqual([]);
  });

  it('names every document with unsaved text', () => {
    const releases = [holdUnsavedWork(() => '“Budget”'), holdUnsavedWork(() => null), holdUnsavedWork(() => '“Timeline”')];
    expect(signOutQuestion(unsavedWork())).toContain('“Budget”, “Timeline”');
    releases.forEach((r) => r());
  });
});
