import { describe, expect, it } from 'vitest';
import { avatarHue, initials } from './initials.js';

describe('initials', () => {
  it.each([
    ['alice', 'A'],
    ['Alice Berg', 'AB'],
    ['john.doe', 'JD'],
    ['  anna  maria  svensson ', 'AS'],
    ['édith', 'É'],
    ['😀 smile', '😀S'],
    ['', '?'],
    ['...', '?'],
  ])('%s → %s', (name, expected) => {
    expect(initials(name)).toBe(expected);
  });
});

describe('avatarHue', () => {
  it('is stable and in range', () => {
    expect(avatarHue(7)).toBe(avatarHue(7));
    for (const id of [1, 2, 3, 1000, Number.MAX_SAFE_INTEGER]) {
      expect(avatarHue(id)).toBeGreaterThanOrEqual(0);
      expect(avatarHue(id)).toBeLessThan(360);
    }
  });
});
