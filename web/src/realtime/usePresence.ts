import type { PresenceMeta } from '@siteflow/contracts';
import { Presence, type Channel } from 'phoenix';
import { useEffect, useState } from 'react';
import { toOnlineUser, type OnlineUser } from './onlineUsers.js';

/**
 * Who is online on a channel, from Phoenix's `presence_state`/`presence_diff`. Phoenix's
 * Presence resynchronises itself on every rejoin (a new `presence_state` replaces the old one).
 * Call it with the channel from `useChannel` so its listeners are bound before the join is sent.
 */
/** One empty list, so a render without users returns the same array. */
const NOBODY: OnlineUser[] = [];

export function usePresence(channel: Channel | null): OnlineUser[] {
  // The users are kept with the channel they came from: a new channel starts with nobody, without
  // a reset in the effect.
  const [seen, setSeen] = useState<{ channel: Channel | null; users: OnlineUser[] }>({ channel: null, users: [] });

  useEffect(() => {
    if (!channel) return;
    // Presence binds its listeners for the channel's lifetime and cannot unbind them: a stale
    // instance is silenced instead.
    let active = true;
    const presence = new Presence(channel);
    presence.onSync(() => {
      if (!active) return;
      setSeen({
        channel,
        users: presence
          .list((key: string, entry: { metas: PresenceMeta[] }) => toOnlineUser(key, entry.metas))
          .filter((u): u is OnlineUser => u !== null),
      });
    });
    return () => {
      active = false;
    };
  }, [channel]);

  const users = seen.channel === channel ? seen.users : NOBODY;
  return users;
}
