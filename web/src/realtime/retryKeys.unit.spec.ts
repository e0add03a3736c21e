import { describe, expect, it } from 'vitest';
import { IdempotencyKey } from '@siteflow/contracts';
import { RetryKeys } from './retryKeys';

describe('RetryKeys', () => {
  it('gives a retry of the same intent the same key, and a new one after it succeeded', () => {
    let n = 0;
    const keys = new RetryKeys(() => `key-${String(++n).padStart(4, '0')}`);
    const first = keys.keyFor('chat:hello');
    expect(keys.keyFor('chat:hello')).toBe(first); // the retry after a timeout
    expect(keys.keyFor('chat:other')).not.toBe(first);
    keys.succeeded('chat:hello');
    expect(keys.keyFor('chat:hello')).not.toBe(first); // saying it again is a new message
  });

  it('remembers only the last few failed intents', () => {
    let n = 0;
    const keys = new RetryKeys(() => `key-${String(++n).padStart(4, '0')}`, 2);
    const a = keys.keyFor('a');
    keys.keyFor('b');
    keys.keyFor('c');
    expect(keys.keyFor('a')).not.toBe(a);
  });

  it('makes keys the gateway accepts', () => {
    expect(IdempotencyKey.safeParse(new RetryKeys().keyFor('x')).success).toBe(true);
  });
});
