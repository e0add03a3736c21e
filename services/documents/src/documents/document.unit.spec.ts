import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentSha256, leaseEnd } from './document.js';

describe('lease arithmetic', () => {
  it('a lease ends at now + lease, or at the idle cap, whichever is first', () => {
    const policy = { leaseMs: 120_000, idleCapMs: 1_800_000 };
    const now = new Date('2026-11-24T10:00:00.000Z');
    expect(leaseEnd(now, '2026-11-24T10:00:00.000Z', policy)).toBe('2026-11-24T10:02:00.000Z');
    expect(leaseEnd(now, '2026-11-24T09:31:00.000Z', policy)).toBe('2026-11-24T10:01:00.000Z');
  });
});

describe('content hashes', () => {
  it('are the SHA-256 of the UTF-8, whichever content came before (the last is remembered)', () => {
    const sha = (text: string) => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
    for (const text of ['# Spec', '# Spec', 'Grüße 😀', '', '# Spec', 'x'.repeat(300_000), 'x'.repeat(300_000) + 'y'])
      expect(contentSha256(text)).toBe(sha(text));
  });
});
