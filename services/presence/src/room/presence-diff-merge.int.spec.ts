import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Presence } from 'phoenix';
import type { Subscription } from '@nats-io/transport-node';
import { PRESENCE_DIFF_NAME, subjects, type PresenceDiff, type PresenceMeta, type PresenceState } from '@siteflow/contracts';
import { createTestDatabase, rawSocket, startStack, type RawSocket, type Stack, type TestDatabase, testNatsUrl } from '@siteflow/testing';
import { PresenceBucket } from '../bucket/presence-bucket.js';
import type { PresenceEntry } from './presence-room.js';

const ROOM = 25;
const TOPIC = 'project:1';
const HALF = 12;

type Synced = Record<string, { metas: PresenceMeta[] }>;

/**
 * What a stock phoenix client on this socket shows now: its `presence_state` and the
 * `presence_diff`s after it, in the order received (diffs before the state are held, as
 * phoenix's Presence does); null before the state.
 */
function viewOf(s: RawSocket): string[] | null {
  let state: Synced | null = null;
  const early: PresenceDiff[] = [];
  for (const f of s.frames) {
    if (f[2] !== TOPIC) continue;
    if (f[3] === 'presence_state') {
      state = Presence.syncState({}, structuredClone(f[4] as PresenceState)) as Synced;
      for (const d of early.splice(0)) state = Presence.syncDiff(state, d) as Synced;
    } else if (f[3] === 'presence_diff') {
      const d = structuredClone(f[4] as PresenceDiff);
      if (state) state = Presence.syncDiff(state, d) as Synced;
      else early.push(d);
    }
  }
  return state === null
    ? null
    : Object.values(state)
        .flatMap((p) => p.metas.map((m) => m.phx_ref))
        .sort();
}

/**
 * A room's join storm: its joiners share one snapshot read on the gateway, track together, and
 * presence writes their sessions in one group commit. Their diffs become ready together and go out
 * merged, instead of one per join that every member of the room receives (~N²/2 frames).
 */
describe('presence diffs of a join storm are merged', () => {
  let db: TestDatabase;
  let stack: Stack;
  let bucket: PresenceBucket<PresenceEntry>;
  let sub: Subscription;
  const published: PresenceDiff[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({ natsUrl: testNatsUrl(), databaseUrl: db.url, env: { LOG_LEVEL: 'warn' } });
    bucket = await PresenceBucket.open<PresenceEntry>(stack.nats, 15 * 60_000);
    sub = stack.nats.subscribe(subjects.projectEphemeral(1, 'presence', PRESENCE_DIFF_NAME), {
      callback: (_e, m) => {
        published.push(m.json<{ broadcast: { payload: PresenceDiff } }>().broadcast.payload);
      },
    });
    await stack.nats.flush();
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    sub?.unsubscribe();
    await stack?.stop();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  const roomRefs = async () => {
    const keys = (await bucket.keys('p1.*.*')).filter((k) => k.startsWith('p1.'));
    const entries = await Promise.all(keys.map((k) => bucket.get(k)));
    return entries.flatMap((e) => (e?.value ? [e.value.meta.phx_ref] : [])).sort();
  };

  it(`${ROOM} sockets joining at once: fewer diffs than joins, each join in exactly one, and every socket sees the whole room`, async () => {
    const tokens = await Promise.all(['alice', 'bob', 'carol'].map(async (u) => (await stack.devLogin(u)).token));
    const sockets = await Promise.all(Array.from({ length: ROOM }, (_, i) => rawSocket(stack.socketUrl, tokens[i % tokens.length]!)));
    try {
      for (const [i, s] of sockets.entries()) s.send([`j${i}`, `j${i}`, TOPIC, 'phx_join', {}]);
      for (const [i, s] of sockets.entries()) {
        const reply = await s.next((f) => f[1] === `j${i}`, 30_000);
        expect((reply[4] as { status: string }).status).toBe('ok');
      }
      await expect.poll(roomRefs, { timeout: 10_000 }).toHaveLength(ROOM);
      const room = await roomRefs();
      // Every join was published, once.
      await expect
        .poll(() => published.flatMap((d) => Object.values(d.joins).flatMap((p) => p.metas.map((m) => m.phx_ref))).sort(), {
          timeout: 10_000,
        })
        .toEqual(room);
      console.log(
        `${ROOM} joins: ${published.length} presence_diff messages (${published.map((d) => Object.values(d.joins).flatMap((p) => p.metas).length).join(', ')} joins each)`,
      );
      // One diff per join before the merge; a room's joins now share them.
      expect(published.length).toBeLessThan(ROOM / 2);
      // Every socket's view settles on the room, exactly (its own join included, no ghost).
      await expect.poll(() => sockets.map(viewOf), { timeout: 10_000 }).toEqual(sockets.map(() => room));

      // A storm of leaves, half the room at once: the others' views follow.
      const leaving = sockets.slice(0, HALF);
      const before = published.length;
      await Promise.all(leaving.map((s) => s.close()));
      await expect.poll(roomRefs, { timeout: 10_000 }).toHaveLength(ROOM - leaving.length);
      const left = await roomRefs();
      const staying = sockets.slice(HALF);
      await expect.poll(() => staying.map(viewOf), { timeout: 10_000 }).toEqual(staying.map(() => left));
      console.log(`${leaving.length} leaves: ${published.length - before} presence_diff messages`);
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
  });
});
