import { describe, expect, it } from 'vitest';
import { natsOptionsFromUrl } from './connect.js';

describe('natsOptionsFromUrl', () => {
  it('passes a plain URL through', () => {
    expect(natsOptionsFromUrl('nats://127.0.0.1:4222')).toEqual({ servers: ['nats://127.0.0.1:4222'] });
  });
  it('takes credentials out of the server list', () => {
    expect(natsOptionsFromUrl('nats://chat:s%40cret@nats:4222')).toEqual({ servers: ['nats://nats:4222'], user: 'chat', pass: 's@cret' });
  });
  it('handles a cluster list and host:port without a scheme', () => {
    expect(natsOptionsFromUrl('nats://a:1@n1:4222, n2:4223')).toEqual({ servers: ['nats://n1:4222', 'nats://n2:4223'], user: 'a', pass: '1' });
  });
});
