import { describe, expect, it } from 'vitest';
import { Presence } from 'phoenix';
import type { PresenceDiff, PresenceMeta, PresenceState } from '@siteflow/contracts';
import { DiffWindow, mergeDiffs, mergeWindow, type PendingDiff } from './diff-window.js';
import { joinDiff, joinedMeta, leaveDiff, presenceStateOf, updateDiff } from './presence-room.js';

const now = new Date('2026-12-02T10:00:00.000Z');
const user = (id: number) => ({ user_id: id, username: `u${id}`, avatar_url: `/avatars/u${id}.svg`, role: 'customer' as const });
const metaOf = (userId: number, ref: string, at = 0) => joinedMeta(user(userId), new Date(now.getTime() + at), ref);

type Synced = Record<string, { metas: PresenceMeta[] }>;
/** What the stock phoenix client holds after these diffs, in order: user → refs, in the client's order. */
function view(state: PresenceState, diffs: readonly PresenceDiff[]): Record<string, string[]> {
  let s = Presence.syncState({}, structuredClone(state)) as Synced;
  for (const d of diffs) s = Presence.syncDiff(s, structuredClone(d)) as Synced;
  return Object.fromEntries(Object.entries(s).map(([k, p]) => [k, p.metas.map((m) => m.phx_ref)]));
}
/** The bench's view (bench/src/joins-worker.ts): a set of refs, leaves applied before joins. */
function benchView(state: PresenceState, diffs: readonly PresenceDiff[]): string[] {
  const refs = new Set<string>();
  const apply = (st: PresenceState, add: boolean) => {
    for (const { metas } of Object.values(st))
      for (const m of metas) {
        if (add) refs.add(m.phx_ref);
        else refs.delete(m.phx_ref);
      }
  };
  apply(state, true);
  for (const d of diffs) {
    apply(d.leaves, false);
    apply(d.joins, true);
  }
  return [...refs].sort();
}

/** A deterministic pseudo-random sequence (mulberry32). */
function random(start: number): () => number {
  let a = start;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('mergeDiffs', () => {
  it('N joins of a room become one diff holding every join, in order; a user with several tabs keeps their order', () => {
    const metas = Array.from({ length: 25 }, (_, i) => metaOf((i % 7) + 1, `r${i}`, i));
    const merged = mergeDiffs(metas.map(joinDiff));
    expect(merged.leaves).toEqual({});
    expect(Object.values(merged.joins).flatMap((p) => p.metas)).toHaveLength(25);
    for (let u = 1; u <= 7; u++) expect(merged.joins[String(u)]!.metas).toEqual(metas.filter((m) => m.user_id === u));
  });

  it('a ref joined then left in the window: the join goes, the leave stays (a joiner of that moment may hold it)', () => {
    const a = metaOf(1, 'a');
    const b = metaOf(2, 'b');
    const merged = mergeDiffs([joinDiff(a), joinDiff(b), leaveDiff(a)]);
    expect(merged).toEqual({ joins: { '2': { metas: [b] } }, leaves: { '1': { metas: [a] } } });
    // Whoever held `a` (its presence_state was read between the join and the leave) loses it;
    // whoever did not is not disturbed.
    expect(view(presenceStateOf([a]), [merged])).toEqual({ '2': ['b'] });
    expect(view({}, [merged])).toEqual({ '2': ['b'] });
  });

  it('updates chain: every former ref leaves, the last meta joins with phx_ref_prev', () => {
    const a1 = metaOf(1, 'a1');
    const a2 = { ...a1, phx_ref: 'a2', editing: true, current_document: 3 };
    const a3 = { ...a1, phx_ref: 'a3' };
    const merged = mergeDiffs([joinDiff(a1), updateDiff(a1, a2), updateDiff(a2, a3)]);
    expect(merged.joins).toEqual({ '1': { metas: [{ ...a3, phx_ref_prev: 'a2' }] } });
    expect(Object.values(merged.leaves).flatMap((p) => p.metas.map((m) => m.phx_ref))).toEqual(['a1', 'a2']);
  });

  it('any sequence of changes, merged, leaves every client where the diffs one by one would (phoenix and the bench alike)', () => {
    const next = random(16);
    for (let round = 0; round < 400; round++) {
      // Connections of 4 users; some online before the window.
      const online = new Map<string, PresenceMeta>();
      let serial = 0;
      const fresh = (userId: number) => metaOf(userId, `r${round}-${serial++}`, serial);
      for (let i = 0; i < 3; i++) {
        const m = fresh(1 + Math.floor(next() * 4));
        online.set(m.phx_ref, m);
      }
      const before = presenceStateOf(online.values());
      // What clients may hold: the state before the window, or one read part-way through it (a
      // joiner of that moment), or one read before any of it (nobody).
      const states: PresenceState[] = [before, {}];
      const diffs: PresenceDiff[] = [];
      const changes = 1 + Math.floor(next() * 8);
      for (let c = 0; c < changes; c++) {
        const held = [...online.values()];
        const pick = held[Math.floor(next() * held.length)];
        const roll = next();
        if (roll < 0.5 || !pick) {
          const m = fresh(1 + Math.floor(next() * 4));
          online.set(m.phx_ref, m);
          diffs.push(joinDiff(m));
        } else if (roll < 0.75) {
          online.delete(pick.phx_ref);
          diffs.push(leaveDiff(pick));
        } else {
          const after = { ...pick, phx_ref: `r${round}-${serial++}`, editing: !pick.editing };
          delete after.phx_ref_prev;
          online.delete(pick.phx_ref);
          online.set(after.phx_ref, after);
          diffs.push(updateDiff(pick, after));
        }
        if (next() < 0.3) states.push(presenceStateOf(online.values()));
      }
      const merged = mergeDiffs(diffs);
      const joined = new Set(Object.values(merged.joins).flatMap((p) => p.metas.map((m) => m.phx_ref)));
      const left = Object.values(merged.leaves).flatMap((p) => p.metas.map((m) => m.phx_ref));
      expect(
        left.filter((r) => joined.has(r)),
        'a ref in both joins and leaves',
      ).toEqual([]);
      // Every client whose state is one the room went through ends in the same place.
      for (const state of states) {
        expect(view(state, [merged]), `round ${round}`).toEqual(view(state, diffs));
        expect(benchView(state, [merged])).toEqual(benchView(state, diffs));
      }
    }
  });
});

describe('mergeWindow: who is skipped', () => {
  const a = metaOf(1, 'a');
  const b = metaOf(2, 'b');

  it('a lone change is sent exactly as made, its exclusion included', () => {
    const lone: PendingDiff = { diff: joinDiff(a), exclude: 'conn-a' };
    expect(mergeWindow([lone])).toBe(lone);
    expect(mergeWindow([{ diff: leaveDiff(a) }])).toEqual({ diff: leaveDiff(a) });
  });

  it('joins of several connections skip nobody: each joiner needs the others, and its own join changes nothing for it', () => {
    const merged = mergeWindow([
      { diff: joinDiff(a), exclude: 'conn-a' },
      { diff: joinDiff(b), exclude: 'conn-b' },
    ]);
    expect(merged.exclude).toBeUndefined();
    // Joiner a's presence_state was read before b's track (it holds only itself): it gets b, and
    // its own join again, as the phoenix client would show either way.
    expect(view(presenceStateOf([a]), [merged.diff])).toEqual({ '1': ['a'], '2': ['b'] });
    expect(view(presenceStateOf([a, b]), [merged.diff])).toEqual({ '1': ['a'], '2': ['b'] });
  });

  it('changes all skipping the same connection still skip it; a leave among joins skips nobody', () => {
    const a2 = { ...a, phx_ref: 'a2' };
    expect(
      mergeWindow([
        { diff: joinDiff(a), exclude: 'conn-a' },
        { diff: updateDiff(a, a2), exclude: 'conn-a' },
      ]).exclude,
    ).toBe('conn-a');
    expect(mergeWindow([{ diff: joinDiff(a), exclude: 'conn-a' }, { diff: leaveDiff(b) }]).exclude).toBeUndefined();
  });
});

describe('DiffWindow', () => {
  it("holds a turn's diffs until the turn ends, then publishes one per project with all of them", async () => {
    const published: Array<{ projectId: number; merged: PendingDiff; changes: number }> = [];
    const w = new DiffWindow((projectId, merged, changes) => published.push({ projectId, merged, changes }));
    const room1 = Array.from({ length: 25 }, (_, i) => metaOf(i + 1, `p1-${i}`));
    const room2 = Array.from({ length: 3 }, (_, i) => metaOf(i + 1, `p2-${i}`));
    for (const [i, m] of room1.entries()) {
      w.add(1, joinDiff(m), `c1-${i}`);
      if (room2[i]) w.add(2, joinDiff(room2[i]), `c2-${i}`);
    }
    expect(published).toEqual([]); // not within the turn
    await new Promise((r) => setImmediate(r));
    expect(published.map((p) => [p.projectId, p.changes])).toEqual([
      [1, 25],
      [2, 3],
    ]);
    expect(published[0]!.merged).toEqual({ diff: { joins: presenceStateOf(room1), leaves: {} } });

    // Every member's view settles right: each joiner of room 1 read a state holding some of the
    // others (or none) plus itself, and then sees the whole room.
    const all = view(presenceStateOf(room1), []);
    for (let i = 0; i < room1.length; i++) {
      const ownState = presenceStateOf([...room1.slice(0, i % 5), room1[i]!]);
      expect(view(ownState, [published[0]!.merged.diff])).toEqual(all);
    }

    // The next turn's lone join is published alone, skipping its joiner, in that turn.
    const late = metaOf(40, 'late');
    w.add(1, joinDiff(late), 'c-late');
    await new Promise((r) => setImmediate(r));
    expect(published.at(-1)).toEqual({ projectId: 1, merged: { diff: joinDiff(late), exclude: 'c-late' }, changes: 1 });
  });

  it('flush publishes at once (the service stopping) and cancels the scheduled one', async () => {
    const published: number[] = [];
    const w = new DiffWindow((projectId) => published.push(projectId));
    w.add(7, joinDiff(metaOf(1, 'x')));
    w.flush();
    expect(published).toEqual([7]);
    await new Promise((r) => setImmediate(r));
    expect(published).toEqual([7]);
  });
});
