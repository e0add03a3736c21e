import { ServerNats } from '@nestjs/microservices';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { DrainingServerNats } from './draining-server.js';
import { InflightRequests } from './inflight.js';

// Both servers are only constructed (no connection): the route of a pattern is a pure function.
const ours = new DrainingServerNats({ servers: ['nats://127.0.0.1:1'] }, new InflightRequests(), 1_000);
const nests = new ServerNats({ servers: ['nats://127.0.0.1:1'] });
const routeOf = (server: ServerNats, pattern: string): unknown =>
  (server as unknown as { getRouteFromPattern(p: string): unknown }).getRouteFromPattern(pattern);

describe('DrainingServerNats: the route of a request pattern', () => {
  it("is Nest's own for our subjects, object patterns, JSON words and numbers", () => {
    for (const pattern of [
      'chat.post',
      'presence.track',
      'documents.project.membership',
      'x',
      '_private.thing',
      'a-b.c_d',
      '{"cmd":"sum"}',
      '{ "b": 1, "a": "x" }',
      '["a"]',
      '"quoted"',
      '42',
      '-1.5e3',
      'true',
      'false',
      'null',
      'chat.*',
      'chat.>',
      '',
      ' chat.post',
    ]) {
      expect(routeOf(ours, pattern), pattern).toEqual(routeOf(nests, pattern));
    }
  });

  it('takes a plain subject as its route without trying it as JSON (a throw per request)', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(routeOf(ours, 'chat.post')).toBe('chat.post');
      expect(parse).not.toHaveBeenCalled();
      expect(routeOf(ours, '{"cmd":"sum"}')).toBe('{"cmd":"sum"}');
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });

  it("is Nest's own for any string, and for any subject-like one", () => {
    const token = fc.stringMatching(/^[\w-]{1,12}$/);
    const subject = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join('.'));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), subject), (pattern) => {
        expect(routeOf(ours, pattern)).toEqual(routeOf(nests, pattern));
      }),
      { numRuns: 2_000 },
    );
  });
});
