import { describe, expect, it } from 'vitest';
import { inboxPrefixFor, natsOptionsFromUrl } from './connect.js';

describe('natsOptionsFromUrl', () => {
  it('passes a plain URL through', () => {
    expect(natsOptionsFromUrl('nats://127.0.0.1:4222')).toEqual({ servers: ['nats://127.0.0.1:4222'] });
  });
  it('takes credentials out of the server list, and gives the user inboxes of its own', () => {
    expect(natsOptionsFromUrl('nats://chat:s%40cret@nats:4222')).toEqual({
      servers: ['nats://nats:4222'],
      user: 'chat',
      pass: 's@cret',
      inboxPrefix: '_INBOX_chat',
    });
  });
  it('handles a cluster list and host:port without a scheme', () => {
    expect(natsOptionsFromUrl('nats://a:1@n1:4222, n2:4223')).toEqual({
      servers: ['nats://n1:4222', 'nats://n2:4223'],
      user: 'a',
      pass: '1',
      inboxPrefix: '_INBOX_a',
    });
  });
});

describe('inboxPrefixFor', () => {
  it('is _INBOX_<user> for a plain subject token', () => {
    expect(inboxPrefixFor('gateway')).toBe('_INBOX_gateway');
    expect(inboxPrefixFor('stack-harness_2')).toBe('_INBOX_stack-harness_2');
  });
  it('leaves nats.js its default for a name that would not be one subject token', () => {
    for (const user of ['a.b', 'a*', 'a>', 'a b', 'ü', '']) expect(inboxPrefixFor(user), user).toBeUndefined();
  });
});
