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
  evictable,
  gatewayKey,
  isAlive,
  isGatewayKey,
  needsResync,
  updateDiff,
  type GatewayLiveness,
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
  let s = Presence.syncState({}, state);
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
      );
    },
    list: () => Presence.list(s, (id: string, p: { metas: PresenceMeta[] }) => ({ id, refs: p.metas.map((m) => m.phx_ref) })),
    metas: (id: string) => (s[id]?.metas ?? []) as PresenceMeta[],
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
  const conn = (gateway: string | undefined, writtenAt: number) => ({
    value: { session_id: 's', meta: tab1, ...(gateway ? { gateway_id: gateway } : {}) } as PresenceEntry,
    writtenAt,
  });
  const live = new Map<string, { value: GatewayLiveness; writtenAt: number }>([
    ['gw-alive', { value: { gateway_id: 'gw-alive' }, writtenAt: 95_000 }],
    ['gw-stale', { value: { gateway_id: 'gw-stale' }, writtenAt: 80_000 }],
  ]);

  it('keeps old connections of a gateway that refreshed within the TTL (they are never rewritten)', () => {
    expect(evictable([['p1.u1.ca', conn('gw-alive', 1_000)]], (g) => live.get(g), 100_000, TTL)).toEqual([]);
  });

  it('evicts the connections of a gateway whose liveness is stale or gone, once they are older than the TTL', () => {
    const entries: Array<[string, ReturnType<typeof conn>]> = [
      ['p1.u1.ca', conn('gw-stale', 1_000)],
      ['p1.u2.cb', conn('gw-gone', 1_000)],
      ['p1.u3.cc', conn('gw-gone', 95_000)], // just tracked: its gateway's liveness may still be on its way
      ['p1.u1.cd', conn('gw-alive', 1_000)],
    ];
    expect(evictable(entries, (g) => live.get(g), 100_000, TTL).map(([k]) => k)).toEqual(['p1.u1.ca', 'p1.u2.cb']);
  });

  it('ages entries without a gateway (written before liveness keys) by their own write time', () => {
    const entries: Array<[string, ReturnType<typeof conn>]> = [
      ['p1.u1.ca', conn(undefined, 1_000)],
      ['p1.u2.cb', conn(undefined, 95_000)],
    ];
    expect(evictable(entries, () => undefined, 100_000, TTL).map(([k]) => k)).toEqual(['p1.u1.ca']);
  });

  it('alive means written within the TTL', () => {
    expect(isAlive({ writtenAt: 90_000 }, 100_000, TTL)).toBe(true);
    expect(isAlive({ writtenAt: 89_999 }, 100_000, TTL)).toBe(false);
    expect(isAlive(undefined, 100_000, TTL)).toBe(false);
  });

  it('asks a gateway to resync before the sweep could have evicted anything of it', () => {
    expect(needsResync(undefined, 100_000, TTL)).toBe(true);
    expect(needsResync({ writtenAt: 97_000 }, 100_000, TTL)).toBe(false);
    // Stale by 8.5 s: not evictable yet (TTL 10 s), but close enough for clocks to disagree.
    expect(needsResync({ writtenAt: 91_500 }, 100_000, TTL)).toBe(true);
    expect(isAlive({ writtenAt: 91_500 }, 100_000, TTL)).toBe(true);
  });

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
