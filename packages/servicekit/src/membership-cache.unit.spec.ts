import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type pg from 'pg';
import { membersChannel, startMembershipCache, type MembershipCache } from './membership-cache.js';

/** A LISTEN session that connects at once, answers every query, and delivers what the test sends. */
class FakeSession extends EventEmitter {
  queries: string[] = [];
  triggers = 2;
  connect() {
    return Promise.resolve();
  }
  query(text: string) {
    this.queries.push(text);
    return Promise.resolve({ rows: text.includes('pg_trigger') ? [{ n: this.triggers }] : [] });
  }
  end() {
    this.emit('end');
    return Promise.resolve();
  }
  notify(payload: string, channel = membersChannel('chat.members')) {
    this.emit('notification', { channel, payload, processId: 1 });
  }
}

const caches: MembershipCache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.stop()));
  vi.useRealTimers();
});

async function started(opts: { maxEntries?: number; heartbeatMs?: number } = {}) {
  const sessions: FakeSession[] = [];
  const cache = startMembershipCache({
    table: 'chat.members',
    client: () => {
      const s = new FakeSession();
      sessions.push(s);
      return s as unknown as pg.Client;
    },
    ...opts,
  });
  caches.push(cache);
  await cache.ready();
  return { cache, sessions };
}

const reads = () => {
  const asked: string[] = [];
  return {
    asked,
    read:
      <T>(value: T, key = 'x') =>
      () => {
        asked.push(key);
        return Promise.resolve(value);
      },
  };
};

describe('startMembershipCache', () => {
  it('LISTENs on the table channel, and forgets exactly the pair a notification names', async () => {
    const { cache, sessions } = await started();
    expect(sessions[0]?.queries).toEqual(['LISTEN "chat_members"', expect.stringContaining('pg_trigger')]);
    const { asked, read } = reads();
    await cache.role(1, 2, read('admin', '1:2'));
    await cache.role(1, 3, read(null, '1:3'));
    await cache.role(1, 2, read('admin', '1:2'));
    await cache.role(1, 3, read(null, '1:3'));
    expect(asked).toEqual(['1:2', '1:3']);
    sessions[0]?.notify('1:3');
    sessions[0]?.notify('1:2', 'another_channel');
    await cache.role(1, 2, read('admin', '1:2'));
    await cache.role(1, 3, read('customer', '1:3'));
    expect(asked).toEqual(['1:2', '1:3', '1:3']);
  });

  it('a miss may read the whole project: its members are remembered, and anyone else is not a member', async () => {
    const { cache } = await started();
    const { asked, read } = reads();
    let projectReads = 0;
    const readProject = () => {
      projectReads++;
      return Promise.resolve(
        new Map([
          [2, 'admin'],
          [3, 'customer'],
        ]),
      );
    };
    expect(await cache.role(1, 2, read('admin'), readProject)).toBe('admin');
    expect(await cache.role(1, 3, read('x'), readProject)).toBe('customer');
    expect(await cache.role(1, 9, read('x'), readProject)).toBe(null); // not a member: one more read of the project
    expect(await cache.role(1, 9, read('x'), readProject)).toBe(null);
    expect(await cache.known(1, () => Promise.resolve(false))).toBe(true);
    expect(projectReads).toBe(2);
    expect(asked).toEqual([]);
    // Too many members to keep (null): the one asked about is read alone.
    expect(await cache.role(2, 2, read('customer'), () => Promise.resolve(null))).toBe('customer');
    expect(asked).toHaveLength(1);
  });

  it('does not remember a read that a notification overtook', async () => {
    const { cache, sessions } = await started();
    let answer!: (v: string) => void;
    const slow = cache.role(1, 2, () => new Promise<string>((r) => (answer = r)));
    sessions[0]?.notify('1:2'); // the row changed while the read was on its way
    answer('admin');
    await expect(slow).resolves.toBe('admin');
    const { asked, read } = reads();
    await cache.role(1, 2, read(null));
    expect(asked).toHaveLength(1);
  });

  it('forgets everything, and reads through, once its session is lost; remembers again once it is back', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'Date'] });
    const { cache, sessions } = await started();
    const { asked, read } = reads();
    await cache.role(1, 2, read('admin'));
    sessions[0]?.emit('error', new Error('terminating connection due to administrator command'));
    expect(cache.listening).toBe(false);
    expect(cache.size).toBe(0);
    await cache.role(1, 2, read('admin'));
    await cache.role(1, 2, read('admin'));
    expect(asked).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(200); // reconnects
    expect(sessions).toHaveLength(2);
    expect(cache.listening).toBe(true);
    await cache.role(1, 2, read('admin'));
    await cache.role(1, 2, read('admin'));
    expect(asked).toHaveLength(4);
  });

  it('is not used when its session has not answered a heartbeat for the lease', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'Date'] });
    const { cache, sessions } = await started({ heartbeatMs: 100 });
    const session = sessions[0];
    if (!session) throw new Error('no session');
    session.query = (text: string) => {
      session.queries.push(text);
      return new Promise(() => {}); // half-open: never answered
    };
    const { asked, read } = reads();
    await cache.role(1, 2, read('admin'));
    await cache.role(1, 2, read('admin'));
    expect(asked).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(350);
    expect(cache.listening).toBe(false);
    await cache.role(1, 2, read('admin'));
    expect(asked).toHaveLength(2);
    expect(session.queries.filter((q) => q === 'SELECT 1')).toHaveLength(1); // one at a time
  });

  it('stays off on a table without its NOTIFY triggers', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'Date'] });
    const sessions: FakeSession[] = [];
    const cache = startMembershipCache({
      table: 'chat.members',
      client: () => {
        const s = new FakeSession();
        s.triggers = 0;
        sessions.push(s);
        return s as unknown as pg.Client;
      },
    });
    caches.push(cache);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sessions.length).toBeGreaterThan(1); // it keeps trying
    expect(cache.listening).toBe(false);
    const { asked, read } = reads();
    await cache.role(1, 2, read('admin'));
    await cache.role(1, 2, read('admin'));
    expect(asked).toHaveLength(2);
  });

  it('forgets everything on TRUNCATE, and holds at most maxEntries pairs, the least recently used going first', async () => {
    const { cache, sessions } = await started({ maxEntries: 2 });
    const { asked, read } = reads();
    await cache.role(1, 1, read('admin', '1'));
    await cache.role(1, 2, read('admin', '2'));
    await cache.role(1, 1, read('admin', '1')); // 1 is now the most recent
    await cache.role(1, 3, read('admin', '3')); // 2 goes
    expect(cache.size).toBe(2);
    await cache.role(1, 1, read('admin', '1'));
    await cache.role(1, 2, read('admin', '2'));
    expect(asked).toEqual(['1', '2', '3', '2']);
    sessions[0]?.notify('*');
    expect(cache.size).toBe(0);
  });
});
