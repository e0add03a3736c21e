import { describe, expect, it } from 'vitest';
import { Presence } from 'phoenix';
import type { PresenceMeta, PresenceState } from '@siteflow/contracts';
import {
  joinDiff,
  joinedMeta,
  leaveDiff,
  metaAfterLock,
  parsePresenceKey,
  presenceKey,
  presenceStateOf,
  dueForRewrite,
  EvictionGrace,
  evictableWithoutGateway,
  gatewayKey,
  gatewayVerdict,
  isAlive,
  isGatewayKey,
  updateDiff,
  type PresenceEntry,
} from './presence-room.js';

const now = new Date('2026-11-24T10:00:00.000Z');
const alice = { user_id: 1, username: 'alice', avatar_url: '/avatars/alice.svg', role: 'admin' as const };
const bob = { user_id: 2, username: 'bob', avatar_url: '/avatars/bob.svg', role: 'customer' as const };
const tab1 = joinedMeta(alice, now, 'a1');
const tab2 = joinedMeta(alice, new Date(now.getTime() + 1000), 'a2');
const bobTab = joinedMeta(bob, now, 'b1');

/** What the stock phoenix client makes of our shapes: the online list and the first/last-tab callbacks. */
function client(state: PresenceState) {
  type Synced = Record<string, { metas: PresenceMeta[] } | undefined>;
  let s = Presence.syncState({}, state) as Synced;
  const calls: string[] = [];
  return {
    apply(diff: { joins: PresenceState; leaves: PresenceState }) {
      s = Presence.syncDiff(
        s,
        diff,
        (key?: string, current?: unknown) => {
          calls.push(`${current ? 'another tab' : 'online'} ${key}`);
        },
        (key?: string, current?: { metas: unknown[] }) => {
          calls.push(`${current?.metas.length === 0 ? 'offline' : 'closed a tab'} ${key}`);
        },
      ) as Synced;
    },
    list: () =>
      Presence.list(s, (id: string, p: { metas: PresenceMeta[] }) => ({ id, refs: p.metas.map((m) => m.phx_ref) })) as Array<{
        id: string;
        refs: string[];
      }>,
    metas: (id: string) => s[id]?.metas ?? [],
    calls,
  };
}

describe('presence keys', () => {
  it('keys a connection by project, user and connection, and reads the key back', () => {
    const k = { projectId: 7, userId: 2, connectionId: '3f2a-9c' };
    expect(presenceKey(k)).toBe('p7.u2.c3f2a-9c');
    expect(parsePresenceKey('p7.u2.c3f2a-9c')).toEqual(k);
    expect(parsePresenceKey('p7.u2')).toBeNull();
    expect(parsePresenceKey('p0.u2.cx')).toBeNull();
  });
});

describe('presence shapes as the phoenix client sees them', () => {
  it('state is keyed by user id with one meta per connection', () => {
    const state = presenceStateOf([tab2, bobTab, tab1]);
    expect(Object.keys(state).sort()).toEqual(['1', '2']);
    expect(state['1']!.metas.map((m) => m.phx_ref)).toEqual(['a1', 'a2']);
    expect(client(state).list()).toEqual([
      { id: '1', refs: ['a1', 'a2'] },
      { id: '2', refs: ['b1'] },
    ]);
  });

  it('a second tab joins as "another tab", closing it keeps the user, closing the last one removes them', () => {
    const c = client(presenceStateOf([bobTab]));
    c.apply(joinDiff(tab1));
    c.apply(joinDiff(tab2));
    c.apply(leaveDiff(tab2));
    expect(c.list()).toEqual([
      { id: '1', refs: ['a1'] },
      { id: '2', refs: ['b1'] },
    ]);
    c.apply(leaveDiff(tab1));
    expect(c.calls).toEqual(['online 1', 'another tab 1', 'closed a tab 1', 'offline 1']);
    expect(c.list()).toEqual([{ id: '2', refs: ['b1'] }]);
  });

  it('an update is a leave of the old meta and a join of the new one with phx_ref_prev', () => {
    const editing = metaAfterLock(bobTab, { type: 'acquired', documentId: 3, at: '2026-11-24T10:05:00.000Z' }, 'b2')!;
    const diff = updateDiff(bobTab, editing);
    expect(diff).toEqual({
      joins: { '2': { metas: [{ ...editing, phx_ref_prev: 'b1' }] } },
      leaves: { '2': { metas: [bobTab] } },
    });
    const c = client(presenceStateOf([bobTab, tab1]));
    c.apply(diff);
    expect(c.metas('2')).toEqual([{ ...editing, phx_ref_prev: 'b1' }]);
    expect(c.metas('2')[0]).toMatchObject({ editing: true, current_document: 3, editing_since: '2026-11-24T10:05:00.000Z' });
  });

  it('a diff that arrives twice (or repeats what the state has) changes nothing', () => {
    const c = client(presenceStateOf([tab1]));
    c.apply(joinDiff(tab1));
    c.apply(joinDiff(tab1));
    expect(c.metas('1')).toEqual([tab1]);
  });
});

describe('meta follows the locks', () => {
  it('acquiring shows the document, releasing it clears it', () => {
    const editing = metaAfterLock(bobTab, { type: 'acquired', documentId: 3, at: 't' }, 'b2');
    expect(editing).toMatchObject({ phx_ref: 'b2', editing: true, current_document: 3, editing_since: 't' });
    const idle = metaAfterLock(editing!, { type: 'released', documentId: 3 }, 'b3');
    expect(idle).toMatchObject({ phx_ref: 'b3', editing: false, current_document: null, editing_since: null });
  });

  it('a change that shows nothing new yields no update (nothing to broadcast)', () => {
    expect(metaAfterLock(bobTab, { type: 'released', documentId: 3 }, 'x')).toBeNull();
    const editing = metaAfterLock(bobTab, { type: 'acquired', documentId: 3, at: 't' }, 'b2')!;
    expect(metaAfterLock(editing, { type: 'acquired', documentId: 3, at: 't2' }, 'x')).toBeNull();
    expect(metaAfterLock(editing, { type: 'released', documentId: 4 }, 'x')).toBeNull();
  });
});

describe('sweep: a connection lives as long as its gateway refreshes', () => {
  const TTL = 10_000;
  const seen = (seenAt: number, dead = false) => ({ value: { gateway_id: 'gw', ...(dead ? { dead: true as const } : {}) }, seenAt });

  it("alive means seen written within the TTL, on this instance's clock, and not declared dead", () => {
    expect(isAlive(seen(90_000), 100_000, TTL)).toBe(true);
    expect(isAlive(seen(89_999), 100_000, TTL)).toBe(false);
    expect(isAlive(seen(99_000, true), 100_000, TTL)).toBe(false);
    expect(isAlive(undefined, 100_000, TTL)).toBe(false);
  });

  it('declares a gateway dead once silent for the TTL, and evicts only after a declaration', () => {
    expect(gatewayVerdict(seen(95_000), 0, 100_000, TTL)).toBe('alive');
    expect(gatewayVerdict(seen(80_000), 0, 100_000, TTL)).toBe('declare_dead');
    // Declared by another instance (or an earlier sweep): evicted while the declaration stands.
    expect(gatewayVerdict(seen(99_000, true), 0, 100_000, TTL)).toBe('evict');
  });

  it('a gateway whose liveness is missing is declared dead only once seen missing for the TTL', () => {
    expect(gatewayVerdict(undefined, 95_000, 100_000, TTL)).toBe('alive');
    expect(gatewayVerdict(undefined, 80_000, 100_000, TTL)).toBe('declare_dead');
  });

  it('ages entries without a gateway (written before liveness keys) by when they were seen', () => {
    const entry = (seenAt: number) => ({ value: { session_id: 's', meta: tab1 } as PresenceEntry, seenAt });
    expect(
      evictableWithoutGateway(
        [
          ['p1.u1.ca', entry(1_000)],
          ['p1.u2.cb', entry(95_000)],
        ],
        100_000,
        TTL,
      ).map(([k]) => k),
    ).toEqual(['p1.u1.ca']);
  });
});

describe('eviction grace: a live gateway gets a full TTL to refresh after any interruption', () => {
  const TTL = 10_000;
  const SWEEP = 2_000;

  it('holds every eviction until the view is loaded, then for one TTL', () => {
    const grace = new EvictionGrace(TTL, SWEEP);
    expect(grace.allows(1_000_000)).toBe(false);
    grace.viewLoaded(5_000);
    expect(grace.allows(14_999)).toBe(false);
    expect(grace.allows(15_000)).toBe(true);
  });

  it('a slow NATS round trip (a stalled server) holds evictions for a TTL from its answer', () => {
    const grace = new EvictionGrace(TTL, SWEEP);
    grace.viewLoaded(0);
    expect(grace.probed(20_000, 20_050)).toBe(false);
    expect(grace.allows(20_050)).toBe(true);
    expect(grace.probed(22_000, 34_000)).toBe(true); // a 12 s stall
    expect(grace.allows(43_999)).toBe(false);
    expect(grace.allows(44_000)).toBe(true);
  });

  it('failed round trips (timeouts while NATS was stalled) hold evictions from the first answer after them', () => {
    const grace = new EvictionGrace(TTL, SWEEP);
    grace.viewLoaded(0);
    grace.probeFailedNow();
    grace.probeFailedNow();
    expect(grace.probed(30_000, 30_010)).toBe(true);
    expect(grace.allows(39_000)).toBe(false);
    expect(grace.allows(40_010)).toBe(true);
    expect(grace.probed(42_000, 42_010)).toBe(false);
  });

  it('a sweep timer that fired far too late (presence stopped or starved) holds evictions', () => {
    const grace = new EvictionGrace(TTL, SWEEP);
    grace.viewLoaded(0);
    expect(grace.ticked(20_000)).toBe(false);
    expect(grace.ticked(22_100)).toBe(false);
    expect(grace.ticked(37_000)).toBe(true);
    expect(grace.allows(46_999)).toBe(false);
    expect(grace.allows(47_000)).toBe(true);
  });

  it('a NATS disconnect holds evictions; nothing shortens a hold', () => {
    const grace = new EvictionGrace(TTL, SWEEP);
    grace.viewLoaded(0);
    grace.interrupted(50_000);
    grace.interrupted(45_000);
    expect(grace.allows(59_999)).toBe(false);
    expect(grace.allows(60_000)).toBe(true);
  });
});

describe('bucket keys', () => {
  it('rewrites a live key only once it is older than a third of the bucket max_age', () => {
    expect(dueForRewrite(0, 299_000, 900_000)).toBe(false);
    expect(dueForRewrite(0, 301_000, 900_000)).toBe(true);
  });

  it('gateway liveness keys are valid KV keys whatever the gateway id, distinct from connection keys', () => {
    const key = gatewayKey('host name/with*odd>chars~x');
    expect(key).toMatch(/^g\.[-_a-zA-Z0-9]{32}$/);
    expect(isGatewayKey(key)).toBe(true);
    expect(isGatewayKey(presenceKey({ projectId: 1, userId: 1, connectionId: 'c' }))).toBe(false);
    expect(parsePresenceKey(key)).toBeNull();
    expect(gatewayKey('a')).not.toBe(gatewayKey('b'));
  });
});
