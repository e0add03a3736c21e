import { describe, expect, it } from 'vitest';
import { ReconnectPolicy } from '../../web/src/realtime/reconnect.js';
import { reconnectAfterMs, RoomPresence, untilLast, WEB_CLIENT } from './storm.js';

type Metas = Record<string, { metas: Array<{ phx_ref: string }> }>;
/** A presence map from `[user, ref]` pairs, metas in the given order. */
const presence = (...pairs: Array<[number, string]>): Metas => {
  const out: Metas = {};
  for (const [user, ref] of pairs) (out[String(user)] ??= { metas: [] }).metas.push({ phx_ref: ref });
  return out;
};
const diff = (joins: Metas, leaves: Metas) => ({ joins, leaves });

describe('the storm client schedule', () => {
  it('is the web client ReconnectPolicy', () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const web = new ReconnectPolicy({ random: () => r });
      for (let tries = 1; tries <= 8; tries++) expect(reconnectAfterMs(tries, () => r)).toBe(web.reconnectAfterMs(tries));
    }
    expect(reconnectAfterMs(1, () => 1)).toBe(WEB_CLIENT.baseMs);
    expect(reconnectAfterMs(30, () => 1)).toBe(WEB_CLIENT.capMs);
    expect(reconnectAfterMs(30, () => 0)).toBe(WEB_CLIENT.minMs);
  });
});

describe('RoomPresence', () => {
  it('settles when every view is exactly the live joins, and again after the gateway died once the ghosts are gone', () => {
    const room = new RoomPresence();
    const [a, b, c] = [room.add(), room.add(), room.add()];
    // a and b are the same user (1): the own meta is the last one under the user.
    room.state(a, presence([1, 'a1']), 1, 10);
    room.state(b, presence([1, 'a1'], [1, 'b1']), 1, 20);
    expect(b.own).toBe('b1');
    expect(room.settled()).toBe(false); // c not joined; a misses b
    room.diff(a, diff(presence([1, 'b1']), {}), 25);
    expect(a.exactSince).toBe(25);
    room.state(c, presence([1, 'a1'], [1, 'b1'], [2, 'c1']), 2, 30);
    // c's join made a's and b's views short of it.
    expect([a.exactSince, b.exactSince, c.exactSince]).toEqual([0, 0, 30]);
    room.diff(a, diff(presence([2, 'c1']), {}), 40);
    expect(room.settled()).toBe(false);
    room.diff(b, diff(presence([2, 'c1']), {}), 45);
    expect(room.settled()).toBe(true);
    expect([a.exactSince, b.exactSince, c.exactSince]).toEqual([40, 45, 30]);

    // The gateway dies: every connection is lost, the views still hold the old joins.
    room.markGhosts();
    for (const m of [a, b, c]) room.lost(m, 100);
    expect(room.settled()).toBe(false);
    expect(a.exactSince).toBe(0);
    // a and b rejoin on the new gateway: presence still shows all three old joins (ghosts until the TTL).
    room.state(a, presence([1, 'a1'], [1, 'b1'], [2, 'c1'], [1, 'a2']), 1, 200);
    room.state(b, presence([1, 'a1'], [1, 'b1'], [2, 'c1'], [1, 'a2'], [1, 'b2']), 1, 210);
    room.diff(a, diff(presence([1, 'b2']), {}), 215);
    room.state(c, presence([1, 'a1'], [1, 'b1'], [2, 'c1'], [1, 'a2'], [1, 'b2'], [2, 'c2']), 2, 220);
    room.diff(a, diff(presence([2, 'c2']), {}), 225);
    room.diff(b, diff(presence([2, 'c2']), {}), 226);
    // All three are live again, but the same count of refs is not the same refs: ghosts remain.
    expect(room.live()).toEqual(new Set(['a2', 'b2', 'c2']));
    expect(room.settled()).toBe(false);
    expect(a.ghostFreeSince).toBe(0);
    // Presence sweeps the dead gateway's joins; each view drops them as the leaves come.
    const ghosts = presence([1, 'a1'], [1, 'b1'], [2, 'c1']);
    expect(room.isGhost('b1')).toBe(true);
    expect(room.isGhost('b2')).toBe(false);
    room.diff(a, diff({}, ghosts), 300);
    room.diff(b, diff({}, ghosts), 301);
    expect(room.settled()).toBe(false);
    room.diff(c, diff({}, presence([1, 'a1'], [1, 'b1'])), 302);
    expect(room.settled()).toBe(false); // c still sees c1
    expect(c.ghostFreeSince).toBe(0);
    room.diff(c, diff({}, presence([2, 'c1'])), 303);
    expect(room.settled()).toBe(true);
    expect([a.exactSince, b.exactSince, c.exactSince]).toEqual([300, 301, 303]);
    expect([a.ghostFreeSince, b.ghostFreeSince, c.ghostFreeSince]).toEqual([300, 301, 303]);
  });

  it('is not settled while a view holds a join that is no longer live, or misses one', () => {
    const room = new RoomPresence();
    const [a, b] = [room.add(), room.add()];
    room.state(a, presence([1, 'a1']), 1, 1);
    room.state(b, presence([1, 'a1'], [1, 'b1']), 1, 2);
    room.diff(a, diff(presence([1, 'b1']), {}), 3);
    expect(room.settled()).toBe(true);
    // b's join timed out and it left: a still shows b1 until the leave comes.
    room.lost(b, 4);
    expect(a.exactSince).toBe(0);
    room.diff(a, diff({}, presence([1, 'b1'])), 5);
    expect(a.exactSince).toBe(5);
    expect(room.settled()).toBe(false); // b not joined
    // A leave for an unknown ref and a join of a stranger break exactness too.
    room.diff(a, diff(presence([3, 'x']), {}), 6);
    expect(a.exactSince).toBe(0);
  });
});

describe('untilLast', () => {
  it('is NaN when one never happened', () => {
    expect(untilLast([5, 9, 7], 1)).toBe(8);
    expect(untilLast([5, 0], 1)).toBeNaN();
    expect(untilLast([], 1)).toBeNaN();
  });
});
