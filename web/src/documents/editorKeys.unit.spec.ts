import { describe, expect, it } from 'vitest';
import { editorShortcut } from './editorKeys.js';

const press = (
  key: string,
  mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; shiftKey: boolean; isComposing: boolean }> = {},
) => editorShortcut({ key, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

describe('editor shortcuts', () => {
  it('Ctrl+S and ⌘S save, with Caps Lock too', () => {
    expect(press('s', { ctrlKey: true })).toBe('save');
    expect(press('s', { metaKey: true })).toBe('save');
    expect(press('S', { ctrlKey: true })).toBe('save');
  });

  it('Escape stops editing', () => {
    expect(press('Escape')).toBe('stop');
  });

  it('leaves other keys, other chords and IME composition alone', () => {
    expect(press('s')).toBeNull();
    expect(press('s', { ctrlKey: true, shiftKey: true })).toBeNull();
    expect(press('s', { ctrlKey: true, altKey: true })).toBeNull();
    expect(press('Escape', { shiftKey: true })).toBeNull();
    expect(press('Escape', { isComposing: true })).toBeNull();
    expect(press('Enter', { ctrlKey: true })).toBeNull();
  });
});
