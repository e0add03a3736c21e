import type { PresenceDiff, PresenceMeta, PresenceState } from '@siteflow/contracts';

/**
 * Presence diffs of one project that become ready in the same event-loop turn, merged into one
 * `presence_diff`. In a join storm a room's joins arrive together (the gateway shares one snapshot
 * read among a room's joiners, then they all track at once, and the sessions are written in one
 * group commit): one diff per join made every member of a room of N receive ~N/2 frames per join,
 * O(N²) per room; merged, the room receives one diff per turn, whatever the number of joiners.
 */

/** One change ready to broadcast: its diff and the connection it may skip (a joiner, whose own meta is in its `presence_state`). */
export interface PendingDiff {
  diff: PresenceDiff;
  exclude?: string;
}

/**
 * The diffs of one window merged, as a client applying them one after the other would see them
 * (Phoenix's `Presence.syncDiff`: a diff's joins are applied before its leaves; within a user, a
 * join appends its meta after the others it does not replace). Per `phx_ref`, in the order given:
 * - a join, then a leave of the same ref: the join is dropped and the leave kept. A client whose
 *   `presence_state` was read between the two (a joiner of the same moment) holds the ref and must
 *   lose it; for any other client a leave of a ref it does not hold changes nothing (syncDiff filters
 *   the user's metas by ref, and skips a user it does not show).
 * - a leave, then a join of the same ref: the leave is dropped (syncDiff would apply the join first).
 * - an update is a leave of the old meta and a join of the new one carrying `phx_ref_prev`; a chain
 *   of updates leaves every former ref and joins the last meta.
 * So a ref is never in both maps, and the result does not depend on whether joins or leaves are
 * applied first (the bench applies leaves first). Joins keep their order, so a user's metas end in
 * the order the changes happened (the web client takes the last as the newest connection).
 */
export function mergeDiffs(diffs: readonly PresenceDiff[]): PresenceDiff {
  const joins = new Map<string, { key: string; meta: PresenceMeta }>();
  const leaves = new Map<string, { key: string; meta: PresenceMeta }>();
  for (const diff of diffs) {
    // A diff's own joins and leaves name different refs (an update changes the ref); its joins are
    // applied first, as syncDiff does.
    for (const [key, { metas }] of Object.entries(diff.joins))
      for (const meta of metas) {
        leaves.delete(meta.phx_ref);
        joins.delete(meta.phx_ref); // joined again: it moves to the end, as syncDiff moves it
        joins.set(meta.phx_ref, { key, meta });
      }
    for (const [key, { metas }] of Object.entries(diff.leaves))
      for (const meta of metas) {
        joins.delete(meta.phx_ref);
        leaves.set(meta.phx_ref, { key, meta });
      }
  }
  return { joins: byUser(joins.values()), leaves: byUser(leaves.values()) };
}

function byUser(entries: Iterable<{ key: string; meta: PresenceMeta }>): PresenceState {
  const state: PresenceState = {};
  for (const { key, meta } of entries) (state[key] ??= { metas: [] }).metas.push(meta);
  return state;
}

/**
 * What one window's changes of a project become: one diff. A lone change is sent exactly as it was
 * made, its exclusion included. Merged changes skip a connection only when every one of them skips
 * it (all are that joiner's own); otherwise nobody is skipped: joiner X may need joiner Y's join,
 * which X's `presence_state` (read before Y's track) may not hold, and the diff cannot be cut per
 * socket. X receiving its own join is harmless: syncDiff replaces a meta of the same ref in place
 * of adding it (X's `presence_state` holds its meta already), and a rejoin's leave of X's replaced
 * meta finds nothing to remove.
 */
export function mergeWindow(pending: readonly PendingDiff[]): PendingDiff {
  const [first] = pending;
  if (first === undefined) return { diff: { joins: {}, leaves: {} } };
  if (pending.length === 1) return first;
  const exclude = first.exclude;
  const sameExclusion = exclude !== undefined && pending.every((p) => p.exclude === exclude);
  return { diff: mergeDiffs(pending.map((p) => p.diff)), ...(sameExclusion ? { exclude } : {}) };
}

/**
 * Collects the diffs that become ready until the end of the current event-loop turn and then hands
 * each project's merged diff to `publish`, once. The flush is a `setImmediate`, not a timer: a lone
 * join is published in the same turn it became ready, after the I/O of that turn (microseconds), and
 * nothing is held longer than one turn. Changes of a group commit (the sessions' batcher resolves a
 * whole batch at once) and the bucket writes answered in the same read of the NATS socket share it.
 */
export class DiffWindow {
  private pending = new Map<number, PendingDiff[]>();
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly publish: (projectId: number, merged: PendingDiff, changes: number) => void,
    private readonly schedule: (flush: () => void) => NodeJS.Immediate = (flush) => setImmediate(flush),
  ) {}

  add(projectId: number, diff: PresenceDiff, exclude?: string): void {
    let list = this.pending.get(projectId);
    if (!list) this.pending.set(projectId, (list = []));
    list.push(exclude === undefined ? { diff } : { diff, exclude });
    this.scheduled ??= this.schedule(() => this.flush());
  }

  /** Publishes every project's merged diff now (the turn ended, or the service stops). */
  flush(): void {
    if (this.scheduled !== null) clearImmediate(this.scheduled);
    this.scheduled = null;
    const pending = this.pending;
    this.pending = new Map();
    for (const [projectId, list] of pending) this.publish(projectId, mergeWindow(list), list.length);
  }
}
