import { describe, expect, it } from 'vitest';
import { addToast, MAX_TOASTS, removeToast, type Toast } from './toasts.js';

const toast = (id: number, key?: string): Toast =>
  key === undefined ? { id, text: `t${id}`, tone: 'info' } : { id, key, text: `t${id}`, tone: 'info' };

describe('toasts', () => {
  it('replaces a toast with the same key instead of stacking', () => {
    const list = [toast(1, 'doc:10'), toast(2)].reduce<Toast[]>(addToast, []);
    expect(addToast(list, toast(3, 'doc:10')).map((t) => t.id)).toEqual([2, 3]);
  });

  it('keeps the newest few and removes by id', () => {
    const list = Array.from({ length: MAX_TOASTS + 2 }, (_, i) => toast(i)).reduce<Toast[]>(addToast, []);
    expect(list.map((t) => t.id)).toEqual([2, 3, 4, 5]);
    expect(removeToast(list, 3).map((t) => t.id)).toEqual([2, 4, 5]);
  });
});
