import { describe, expect, it } from 'vitest';
import { PublishedEvent } from '@siteflow/contracts';
import { compareCheckpoints } from './read.js';
import { storeSchema } from './schema.js';
import { toPublishedEvent } from './published.js';
import type { RecordedEvent } from './types.js';

describe('storeSchema', () => {
  it('accepts plain lower-case identifiers and quotes them', () => {
    expect(storeSchema('chat')).toMatchObject({ events: '"chat".events', channel: 'chat_events' });
    expect(storeSchema('_x9').name).toBe('_x9');
  });
  it.each(['', 'Chat', '9chat', 'chat-room', 'a;drop', 'x'.repeat(57)])('rejects %j', (name) => {
    expect(() => storeSchema(name)).toThrow(/invalid event store schema name/);
  });
});

describe('compareCheckpoints', () => {
  it('orders by transaction id (as a 64-bit number), then position', () => {
    const cp = (transactionId: string, globalPosition: number) => ({ transactionId, globalPosition });
    expect(compareCheckpoints(cp('9', 100), cp('10', 1))).toBeLessThan(0);
    expect(compareCheckpoints(cp('10', 2), cp('10', 1))).toBeGreaterThan(0);
    expect(compareCheckpoints(cp('18446744073709551615', 1), cp('18446744073709551614', 9))).toBeGreaterThan(0);
    expect(compareCheckpoints(cp('5', 5), cp('5', 5))).toBe(0);
  });
});

describe('toPublishedEvent', () => {
  it('produces the PublishedEvent contract', () => {
    const e: RecordedEvent = {
      eventId: '5b3f7c1e-1f0a-4a4e-9a53-0c9b0c6f7a10',
      streamId: 'chat-1',
      version: 3,
      globalPosition: 42,
      transactionId: '777',
      type: 'MessagePosted',
      data: { body: 'hi' },
      metadata: { causation: 'x' },
      projectId: 1,
      userId: null,
      broadcast: { event: 'chat:new_message', payload: { body: 'hi' } },
      occurredAt: new Date('2025-05-06T07:08:09.010Z'),
    };
    const published = toPublishedEvent(e);
    expect(PublishedEvent.parse(published)).toEqual(published);
    expect(published).toEqual({
      event_id: e.eventId,
      type: 'MessagePosted',
      stream_id: 'chat-1',
      version: 3,
      global_position: 42,
      project_id: 1,
      occurred_at: '2025-05-06T07:08:09.010Z',
      data: { body: 'hi' },
      broadcast: { event: 'chat:new_message', payload: { body: 'hi' } },
    });
  });
});
