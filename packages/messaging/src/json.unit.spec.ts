import { describe, expect, it } from 'vitest';
import { safeJson } from './json.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('safeJson', () => {
  it('parses a JSON body', () => {
    expect(safeJson(bytes('{"connection_id":"c1","user_id":2}'))).toEqual({ connection_id: 'c1', user_id: 2 });
  });

  it('is null for a body that is not JSON, never a throw', () => {
    expect(safeJson(bytes('{"half'))).toBeNull();
    expect(safeJson(new Uint8Array([0xff, 0xfe]))).toBeNull();
    expect(safeJson(new Uint8Array())).toBeNull();
  });
});
