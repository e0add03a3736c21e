import { describe, expect, it } from 'vitest';
import { leaseEnd } from './document.js';

describe('lease arithmetic', () => {
  it('a lease ends at now + lease, or at the idle cap, whichever is first', () => {
    const policy = { leaseMs: 120_000, idleCapMs: 1_800_000 };
    const now = new Date('2026-11-24T10:00:00.000Z');
    expect(leaseEnd(now, '2026-11-24T10:00:00.000Z', policy)).toBe('2026-11-24T10:02:00.000Z');
    expect(leaseEnd(now, '2026-11-24T09:31:00.000Z', policy)).toBe('2026-11-24T10:01:00.000Z');
  });
});
