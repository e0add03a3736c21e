import { describe, expect, it } from 'vitest';
import { OutputTail } from './output-tail.js';

describe('OutputTail', () => {
  it('joins chunks split inside lines', () => {
    const tail = new OutputTail();
    tail.write('hello wo');
    tail.write(Buffer.from('rld\nsecond'));
    tail.write(' line\r\nthird');
    expect(tail.text()).toBe('hello world\nsecond line\nthird');
    expect(tail.includes('world')).toBe(true);
    expect(tail.includes('third')).toBe(true);
  });

  it('keeps only the last lines', () => {
    const tail = new OutputTail(3);
    for (let i = 1; i <= 10; i++) tail.write(`line ${i}\n`);
    expect(tail.text()).toBe('line 8\nline 9\nline 10');
    expect(tail.text(2)).toBe('line 9\nline 10');
    expect(tail.includes('line 1\n')).toBe(false);
  });
});
