import { describe, expect, it } from 'vitest';
import { isPlainLeftClick, type LinkClick } from './linkClick.js';

const plain: LinkClick = { button: 0, defaultPrevented: false, metaKey: false, altKey: false, ctrlKey: false, shiftKey: false };

describe('isPlainLeftClick', () => {
  it('takes a plain left click', () => {
    expect(isPlainLeftClick(plain)).toBe(true);
    expect(isPlainLeftClick({ ...plain, target: '_self' })).toBe(true);
  });

  it.each<Partial<LinkClick>>([
    { button: 1 },
    { defaultPrevented: true },
    { metaKey: true },
    { ctrlKey: true },
    { shiftKey: true },
    { altKey: true },
    { target: '_blank' },
  ])('leaves %o to the browser', (change) => {
    expect(isPlainLeftClick({ ...plain, ...change })).toBe(false);
  });
});
