import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RoomSnapshot } from '@siteflow/contracts';
import { withOwnUnread } from '../rooms/snapshot.js';
import { encodeFrame } from './frames.js';
import { encodeJoinReply } from './join-reply.js';

/** What the reply was before it was encoded once per read: the frame with the joiner's snapshot, serialised whole. */
const plain = (joinRef: string | null, ref: string, topic: string, snapshot: RoomSnapshot, unread: number) =>
  encodeFrame([joinRef, ref, topic, 'phx_reply', { status: 'ok', response: withOwnUnread(snapshot, unread) }]);

// Snapshot-shaped values: the room's parts as arbitrary JSON (strings with quotes, escapes and any
// unicode included), the chat part with its messages and whatever else it may carry.
const json = fc.jsonValue();
const snapshotArb = fc
  .record({
    project: fc.option(fc.dictionary(fc.string(), json), { nil: null }),
    documents: fc.array(fc.dictionary(fc.string(), json), { maxLength: 5 }),
    checklist: fc.dictionary(fc.string(), json),
    chat: fc.record({
      messages: fc.array(fc.dictionary(fc.string(), json), { maxLength: 5 }),
      has_more: fc.boolean(),
      unread_count: fc.nat(),
    }),
    members_last_seen: fc.array(fc.dictionary(fc.string(), json), { maxLength: 5 }),
    extra: fc.dictionary(fc.string(), json),
  })
  .map((s) => s as unknown as RoomSnapshot);
const refArb = fc.string({ minLength: 1, maxLength: 64 });

describe('encodeJoinReply', () => {
  it("parses to the frame of the joiner's own snapshot, whatever the room holds and whoever joins", () => {
    fc.assert(
      fc.property(
        fc.option(refArb, { nil: null }),
        refArb,
        fc.string({ minLength: 1 }),
        snapshotArb,
        fc.nat(),
        (joinRef, ref, topic, snapshot, unread) => {
          expect(JSON.parse(encodeJoinReply(joinRef, ref, topic, snapshot, unread))).toEqual(
            JSON.parse(plain(joinRef, ref, topic, snapshot, unread)),
          );
        },
      ),
    );
  });

  it("gives each sharer of one read its own count, and leaves the read's own untouched", () => {
    fc.assert(
      fc.property(snapshotArb, fc.array(fc.nat(), { minLength: 2, maxLength: 10 }), (snapshot, counts) => {
        const before = structuredClone(snapshot);
        const replies = counts.map((n, i) => JSON.parse(encodeJoinReply(`${i}`, `${i}`, 'project:7', snapshot, n)) as unknown[]);
        expect(replies.map((r) => (r[4] as { response: RoomSnapshot }).response.chat.unread_count)).toEqual(counts);
        expect(snapshot).toEqual(before);
      }),
    );
  });

  it('writes a room whose parts are empty objects', () => {
    const empty = { chat: {} } as unknown as RoomSnapshot;
    expect(JSON.parse(encodeJoinReply('1', '1', 'project:1', empty, 3))).toEqual([
      '1',
      '1',
      'project:1',
      'phx_reply',
      { status: 'ok', response: { chat: { unread_count: 3 } } },
    ]);
  });
});
