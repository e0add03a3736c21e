import type { PresenceMeta, PresenceState } from '@siteflow/contracts';
import { Presence } from 'phoenix';
import { describe, expect, it } from 'vitest';
import { sortOnlineUsers, toOnlineUser, type OnlineUser } from './onlineUsers.js';

const meta = (over: Partial<PresenceMeta>): PresenceMeta => ({
  phx_ref: 'r1',
  user_id: 1,
  username: 'alice',
  avatar_url: '',
  role: 'admin',
  online_at: '2025-01-01T10:00:00Z',
  current_document: null,
  editing: false,
  editing_since: null,
  ...over,
});

const list = (state: PresenceState) =>
  Presence.list(state, (key: string, e: { metas: PresenceMeta[] }) => toOnlineUser(key, e.metas)).filter(
    (u): u is OnlineUser => u !== null,
  );

describe('toOnlineUser', () => {
  it('folds all connections of a user into one entry', () => {
    const u = toOnlineUser('1', [
      meta({ phx_ref: 'a', online_at: '2025-01-01T10:05:00Z', current_document: 4 }),
      meta({ phx_ref: 'b', online_at: '2025-01-01T10:00:00Z', editing: true, current_document: 3 }),
      meta({ phx_ref: 'c', online_at: '2025-01-01T10:09:00Z', username: 'Alice A.' }),
    ]);
    expect(u).toEqual({
      key: '1',
      user_id: 1,
      username: 'Alice A.',
      avatar_url: '',
      role: 'admin',
      editing: true,
      current_document: 3,
      online_at: '2025-01-01T10:00:00Z',
      connections: 3,
    });
  });

  it('is null for an entry without metas', () => {
    expect(toOnlineUser('1', [])).toBeNull();
  });
});

describe('with Phoenix Presence (the shapes the gateway sends)', () => {
  it('follows state, a metadata update and a leave', () => {
    let state = Presence.syncState(
      {},
      {
        '1': { metas: [meta({ phx_ref: 'a1' })] },
        '2': { metas: [meta({ phx_ref: 'b1', user_id: 2, username: 'bob', role: 'customer' })] },
      },
    ) as PresenceState;
    expect(list(state).map((u) => u.username)).toEqual(['alice', 'bob']);

    // An update is a leave of the old meta plus a join of the new one with phx_ref_prev.
    state = Presence.syncDiff(state, {
      joins: {
        '2': {
          metas: [
            meta({ phx_ref: 'b2', phx_ref_prev: 'b1', user_id: 2, username: 'bob', role: 'customer', editing: true, current_document: 5 }),
          ],
        },
      },
      leaves: { '2': { metas: [meta({ phx_ref: 'b1', user_id: 2, username: 'bob', role: 'customer' })] } },
    }) as PresenceState;
    expect(list(state).find((u) => u.user_id === 2)).toMatchObject({ editing: true, current_document: 5, connections: 1 });

    state = Presence.syncDiff(state, { joins: {}, leaves: { '1': { metas: [meta({ phx_ref: 'a1' })] } } }) as PresenceState;
    expect(list(state).map((u) => u.user_id)).toEqual([2]);
  });
});

describe('sortOnlineUsers', () => {
  it('puts me first, then everyone by name', () => {
    const u = (user_id: number, username: string) => ({ ...(toOnlineUser(String(user_id), [meta({ user_id, username })]) as OnlineUser) });
    expect(sortOnlineUsers([u(3, 'carol'), u(1, 'alice'), u(2, 'bob')], 2).map((x) => x.username)).toEqual(['bob', 'alice', 'carol']);
  });
});
