import { describe, expect, it } from 'vitest';
import { DOCUMENT_TYPES, documentIdFor, leaseEnd } from './document.js';

describe('document ids and lease arithmetic', () => {
  it('gives every (project, type) its own id, the same on every instance', () => {
    const ids = [1, 2, 3].flatMap((p) => DOCUMENT_TYPES.map((t) => documentIdFor(p, t)));
    expect(new Set(ids).size).toBe(27);
    expect(DOCUMENT_TYPES.map((t) => documentIdFor(1, t))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(documentIdFor(2, 'technical_spec')).toBe(10);
  });

  it('a lease ends at now + lease, or at the idle cap, whichever is first', () => {
    const policy = { leaseMs: 120_000, idleCapMs: 1_800_000 };
    const now = new Date('2026-11-24T10:00:00.000Z');
    expect(leaseEnd(now, '2026-11-24T10:00:00.000Z', policy)).toBe('2026-11-24T10:02:00.000Z');
    expect(leaseEnd(now, '2026-11-24T09:31:00.000Z', policy)).toBe('2026-11-24T10:01:00.000Z');
  });
});
