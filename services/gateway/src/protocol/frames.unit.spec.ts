import { describe, expect, it } from 'vitest';
import { CloseCode, decodeFrame, encodeFrame } from './frames.js';

describe('decodeFrame', () => {
  it('decodes a v2 push', () => {
    expect(decodeFrame('["1","2","project:1","chat:message",{"text":"hi"}]')).toEqual({
      kind: 'frame',
      joinRef: '1',
      ref: '2',
      topic: 'project:1',
      event: 'chat:message',
      payload: { text: 'hi' },
    });
  });

  it('decodes a heartbeat with null join_ref', () => {
    expect(decodeFrame('[null,"9","phoenix","heartbeat",{}]')).toMatchObject({ kind: 'frame', joinRef: null, ref: '9' });
  });

  it('closes on text that is not JSON, and on JSON that is not an array', () => {
    expect(decodeFrame('{nope')).toEqual({ kind: 'close', code: CloseCode.invalidPayload, reason: 'frame is not JSON' });
    expect(decodeFrame('{"topic":"x"}')).toMatchObject({ kind: 'close', code: CloseCode.invalidPayload });
  });

  it('rejects with a reply when ref and topic are usable', () => {
    const d = decodeFrame('["1","2","project:1","chat:message","not an object"]');
    expect(d).toMatchObject({ kind: 'reject', ref: '2', topic: 'project:1', error: { code: 'invalid_payload' } });
  });

  it('closes when the malformed frame has no usable ref', () => {
    expect(decodeFrame('[1,2,3]')).toMatchObject({ kind: 'close' });
    expect(decodeFrame('[null,null,"project:1","chat:message",5]')).toMatchObject({ kind: 'close' });
  });

  it('closes on a well-formed frame without a ref: nobody could be answered', () => {
    expect(decodeFrame('[null,null,"project:1","chat:message",{"text":"hi"}]')).toEqual({
      kind: 'close',
      code: CloseCode.invalidPayload,
      reason: 'frame without a ref',
    });
  });

  it('rejects payloads nested deeper than 32 levels', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { a: deep };
    const d = decodeFrame(JSON.stringify(['1', '2', 'project:1', 'chat:message', deep]));
    expect(d).toMatchObject({ kind: 'reject', error: { code: 'invalid_payload', message: 'payload is nested too deeply' } });
  });

  it('refuses a NUL character (U+0000) anywhere in a payload by name, and lets the six characters "\\u0000" through', () => {
    for (const payload of [{ text: 'a\u0000b' }, { nested: [{ title: '\u0000' }] }, { ['k\u0000']: 1 }]) {
      const d = decodeFrame(JSON.stringify(['1', '2', 'project:1', 'chat:message', payload]));
      expect(d).toMatchObject({
        kind: 'reject',
        ref: '2',
        error: { code: 'invalid_payload', message: 'text may not contain the NUL character (U+0000)' },
      });
    }
    const typed = decodeFrame(JSON.stringify(['1', '2', 'project:1', 'chat:message', { text: 'C strings end at \\u0000' }]));
    expect(typed).toMatchObject({ kind: 'frame', payload: { text: 'C strings end at \\u0000' } });
  });

  it('encodes a broadcast as a JSON array', () => {
    expect(encodeFrame([null, null, 'project:1', 'chat:new_message', { id: 'x' }])).toBe(
      '[null,null,"project:1","chat:new_message",{"id":"x"}]',
    );
  });
});
