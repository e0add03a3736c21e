import { describe, expect, it } from 'vitest';
import { UPDATE_NOTICE_QUIET_MS, updateNoticeDue, updateNoticeText } from './updateNotices.js';

describe('update notices', () => {
  it('tells the first save of a run, not every auto-save after it', () => {
    expect(updateNoticeDue(undefined, 2, 0)).toBe(true);
    expect(updateNoticeDue({ userId: 2, at: 0 }, 2, 10_000)).toBe(false);
    // Each auto-save moves the run on, so a steady typist is told about once.
    expect(updateNoticeDue({ userId: 2, at: 50_000 }, 2, 100_000)).toBe(false);
  });

  it('tells again when another person saves, or after a quiet spell', () => {
    expect(updateNoticeDue({ userId: 2, at: 0 }, 3, 1_000)).toBe(true);
    expect(updateNoticeDue({ userId: 2, at: 0 }, 2, UPDATE_NOTICE_QUIET_MS)).toBe(true);
  });

  it('names the document and the version', () => {
    expect(updateNoticeText('alice', 'Timeline', 5)).toBe('Updated by alice: Timeline is now v5');
  });
});
