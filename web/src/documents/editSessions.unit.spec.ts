import { describe, expect, it } from 'vitest';
import { handOver, holdEditSession, isEditing } from './editSessions.js';

describe('edit sessions of a tab', () => {
  it('hands over only a document this tab edits, through its own stop', async () => {
    const stopped: number[] = [];
    const release = holdEditSession(7, () => {
      stopped.push(7);
      return Promise.resolve(true);
    });
    expect(isEditing(7)).toBe(true);
    expect(await handOver(8)).toBe(false);
    expect(await handOver(7)).toBe(true);
    expect(stopped).toEqual([7]);
    release();
    expect(isEditing(7)).toBe(false);
    expect(await handOver(7)).toBe(false);
  });

  it('an old registration released late does not remove a newer one', () => {
    const releaseOld = holdEditSession(9, () => Promise.resolve(true));
    const releaseNew = holdEditSession(9, () => Promise.resolve(true));
    releaseOld();
    expect(isEditing(9)).toBe(true);
    releaseNew();
    expect(isEditing(9)).toBe(false);
  });
});
