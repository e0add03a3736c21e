import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PublishedEvent } from '@siteflow/contracts';
import { toPublishedEvent, type RecordedEvent } from '@siteflow/eventstore';
import { fastCopyPublisher } from './fast-copies.js';

const decoder = new TextDecoder();

function recorded(version: number, data: Record<string, unknown>, type = 'DocumentSaved'): RecordedEvent {
  return {
    eventId: `00000000-0000-4000-8000-${String(version).padStart(12, '0')}`,
    streamId: 'document-5',
    version,
    globalPosition: version,
    transactionId: '1',
    type,
    data,
    metadata: {},
    projectId: 7,
    userId: 3,
    broadcast: { event: 'document:updated', payload: { document_id: 5, version } },
    occurredAt: new Date('2026-12-03T10:00:00.000Z'),
  };
}

function setup(maxBytes: number, publishes?: (e: RecordedEvent) => boolean) {
  const sent: Array<{ subject: string; event: unknown }> = [];
  const nats = {
    publish: (subject: string, data: Uint8Array) => sent.push({ subject, event: JSON.parse(decoder.decode(data)) as unknown }),
  } as unknown as NatsConnection;
  const copies = fastCopyPublisher({
    nats,
    subjectFor: (e) => `project.${e.projectId}.ev.documents.${e.type}`,
    maxBytes,
    ...(publishes ? { publishes } : {}),
    logger: pino({ level: 'silent' }),
  });
  return { sent, ...copies };
}

/** The size of an event's copy, as published. */
const bytesOf = (e: RecordedEvent) => Buffer.byteLength(JSON.stringify(toPublishedEvent(e)));

describe('fast copies', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('publishes each event as the relay would, on its now subject, in order', () => {
    const { sent, publish, stats } = setup(64 * 1024);
    const events = [recorded(1, { content: 'a' }), recorded(2, { content: 'b' })];
    publish(events);
    expect(sent.map((s) => s.subject)).toEqual(['project.7.now.documents.DocumentSaved', 'project.7.now.documents.DocumentSaved']);
    expect(sent.map((s) => PublishedEvent.parse(s.event))).toEqual(events.map(toPublishedEvent));
    expect(stats).toEqual({ published: 2, tooLarge: 0, failed: 0 });
  });

  it('leaves an event over the bound to the relay, in bytes (not characters), and copies the ones around it', () => {
    const small = recorded(1, { content: 'a' });
    const exact = recorded(2, { content: '' });
    const bound = bytesOf(exact) + 10;
    const fits = recorded(2, { content: 'x'.repeat(10) });
    const overInBytes = recorded(3, { content: 'å'.repeat(10) }); // 10 characters, 20 bytes
    const tooLong = recorded(4, { content: 'x'.repeat(bound) });
    expect(bytesOf(fits)).toBe(bound);
    const { sent, publish, stats } = setup(bound);
    publish([small, fits, overInBytes, tooLong, recorded(5, { content: 'b' })]);
    expect(sent.map((s) => (s.event as { version: number }).version)).toEqual([1, 2, 5]);
    expect(stats).toEqual({ published: 3, tooLarge: 2, failed: 0 });
  });

  it('does not encode an event whose JSON alone is longer than the bound (a large save)', () => {
    const encode = vi.spyOn(TextEncoder.prototype, 'encode');
    const { sent, publish, stats } = setup(1024);
    publish([recorded(1, { content: 'x'.repeat(256 * 1024) })]);
    expect(sent).toEqual([]);
    expect(stats.tooLarge).toBe(1);
    expect(encode).not.toHaveBeenCalled();
  });

  it('copies nothing the relay does not publish, and nothing at all with a bound of 0', () => {
    const onlySaves = setup(64 * 1024, (e) => e.type === 'DocumentSaved');
    onlySaves.publish([recorded(1, {}, 'SessionJoined'), recorded(2, {})]);
    expect(onlySaves.sent.map((s) => (s.event as { type: string }).type)).toEqual(['DocumentSaved']);
    const none = setup(0);
    none.publish([recorded(1, {})]);
    expect(none.sent).toEqual([]);
    expect(none.stats).toEqual({ published: 0, tooLarge: 0, failed: 0 });
  });

  it('counts a publish that throws (a closed connection) and never throws into the command', () => {
    const failing = fastCopyPublisher({
      nats: {
        publish: () => {
          throw new Error('closed');
        },
      } as unknown as NatsConnection,
      subjectFor: () => 'project.7.ev.documents.DocumentSaved',
      maxBytes: 64 * 1024,
      logger: pino({ level: 'silent' }),
    });
    expect(() => failing.publish([recorded(1, {})])).not.toThrow();
    expect(failing.stats).toEqual({ published: 0, tooLarge: 0, failed: 1 });
  });
});
