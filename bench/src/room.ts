import { setTimeout as sleep } from 'node:timers/promises';
import { PhxClient, type Reply } from './phx-client.js';
import { summarize, type LatencySummary } from './stats.js';
import { documentIdsOf, type BenchUser } from './users.js';

export interface RoomResult {
  /**
   * The gateway (with the whole stack), the durable floor (one insert, then a broadcast), or a
   * brokered floor (the gateway's path, bare: brokered-floor.ts).
   */
  target: 'gateway' | 'floor' | 'brokered' | 'brokered-tx';
  users: number;
  projects: number;
  /** Measured seconds, after `warmupSeconds` of the same load that count only in `deliveryByWindow`. */
  seconds: number;
  warmupSeconds: number;
  /** Pushes in the measured seconds. */
  pushes: number;
  pushErrors: Record<string, number>;
  deliveries: number;
  /** Push → every room member's receipt of the broadcast (chat messages and document saves). */
  deliveryLatency: LatencySummary;
  chatDelivery: LatencySummary;
  documentDelivery: LatencySummary;
  /** Push → reply, for every push. */
  replyLatency: LatencySummary;
  /** Push → every receiver by when the push was sent, in 10 s windows from the first second of warm-up. */
  deliveryByWindow: Array<{ fromSecond: number } & LatencySummary>;
}

export type PushReply = Reply;

/** Who acts in a room: the user, the checklist items it may toggle and the documents it may edit. */
export interface RoomActor {
  user: BenchUser;
  items: number[];
  documents: number[];
}

/**
 * One action of a room member, as a planning team acts: chatting (60 %), toggling the checklist
 * (25 %), or editing a document (take the lock, read it, save, release; 15 %). Chat texts and
 * saved contents end with `#<marker>`, so receivers and the event store can tell them apart.
 */
export async function actInRoom(
  actor: RoomActor,
  marker: string,
  push: (event: string, payload: unknown) => Promise<PushReply>,
): Promise<void> {
  const pick = (xs: number[]): number => xs[Math.floor(Math.random() * xs.length)] ?? 0;
  const roll = Math.random();
  if (roll < 0.6) {
    await push('chat:message', { text: `hello from ${actor.user.username} #${marker}` });
  } else if (roll < 0.85 && actor.items.length > 0) {
    await push('checklist:toggle', { item_id: pick(actor.items), checked: Math.random() < 0.5 });
  } else if (actor.documents.length > 0) {
    const documentId = pick(actor.documents);
    const lock = await push('document:start_editing', { document_id: documentId });
    if (lock.status === 'ok') {
      const doc = await push('document:get', { document_id: documentId });
      const version = (doc.response as { version?: number } | null)?.version ?? 1;
      await push('document:save', {
        document_id: documentId,
        content: `# Notes\n\nedited by ${actor.user.username} #${marker}\n`,
        base_version: version,
      });
      await push('document:stop_editing', { document_id: documentId });
    }
  }
}

/** The marker at the end of a chat text or a saved content (`#m1a`), if any. */
export function markerOf(text: string | undefined): string | undefined {
  return text ? /#(\w+)\s*$/.exec(text)?.[1] : undefined;
}

/** A join, tried up to five times a second apart: on a loaded machine a service may not answer in time (pushes are what is measured). */
async function joinWithRetries(c: PhxClient, topic: string): Promise<RoomSnapshotShape> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await c.join(topic)) as RoomSnapshotShape;
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(1_000);
    }
  }
}

type RoomSnapshotShape = { checklist?: { items?: Array<{ id: number }> }; documents?: Array<{ id: number }> };

/**
 * A planning team's shape: users in rooms of five, each acting every few seconds: chatting (60 %),
 * toggling the checklist (25 %), or editing a document (take the lock, save, release; 15 %).
 */
export async function runRoom(
  socketUrl: string,
  users: BenchUser[],
  opts: {
    seconds: number;
    /** Seconds of the same load before the measured ones (processes' JIT, pools and caches warm). */
    warmupSeconds?: number;
    actEveryMs: number;
    target?: RoomResult['target'];
    /** Called when the measured seconds start (the CPU meter starts then). */
    onMeasuring?: () => Promise<void>;
  },
): Promise<RoomResult> {
  const sent = new Map<string, number>();
  const chatLat: number[] = [];
  const docLat: number[] = [];
  const byWindow: Array<number[] | undefined> = [];
  const windowMs = 10_000;
  let started = 0;
  // Samples of pushes sent before this (the warm-up) count only in the windows.
  let measuredFrom = Infinity;
  const replyLat: number[] = [];
  const errors: Record<string, number> = {};
  let pushes = 0;
  let deliveries = 0;
  const clients: Array<{ user: BenchUser; c: PhxClient; topic: string; items: number[]; documents: number[] }> = [];

  for (let i = 0; i < users.length; i += 50) {
    const batch = await Promise.all(
      users.slice(i, i + 50).map(async (user) => {
        const c = await PhxClient.connect(socketUrl, user.token);
        const topic = `project:${user.projectId}`;
        const snapshot = await joinWithRetries(c, topic);
        const items = (snapshot.checklist?.items ?? []).map((it: { id: number }) => it.id);
        c.onEvent = (_t, event, payload, at) => {
          let marker: string | undefined;
          const p = payload as { text?: string; content?: string };
          if (event === 'chat:new_message') marker = markerOf(p.text);
          else if (event === 'document:updated') marker = markerOf(p.content);
          else return;
          const t0 = marker ? sent.get(marker) : undefined;
          if (t0 === undefined) return;
          (byWindow[Math.floor((t0 - started) / windowMs)] ??= []).push(at - t0);
          if (t0 < measuredFrom) return;
          deliveries++;
          (event === 'chat:new_message' ? chatLat : docLat).push(at - t0);
        };
        return { user, c, topic, items, documents: documentIdsOf(snapshot) };
      }),
    );
    clients.push(...batch);
  }

  const timed = async (c: PhxClient, topic: string, event: string, payload: unknown) => {
    const t0 = performance.now();
    const r = await c.push(topic, event, payload);
    if (t0 < measuredFrom) return r;
    pushes++;
    replyLat.push(performance.now() - t0);
    if (r.status !== 'ok') {
      const code = r.status === 'timeout' ? 'timeout' : String((r.response as { code?: string } | null)?.code);
      errors[`${event} ${code}`] = (errors[`${event} ${code}`] ?? 0) + 1;
    }
    return r;
  };

  let seq = 0;
  const warmupSeconds = opts.warmupSeconds ?? 0;
  started = performance.now();
  measuredFrom = started + warmupSeconds * 1000;
  const deadline = measuredFrom + opts.seconds * 1000;
  const measuring = sleep(warmupSeconds * 1000).then(() => opts.onMeasuring?.());
  await Promise.all(
    clients.map(async ({ user, c, topic, items, documents }, i) => {
      await sleep((i / clients.length) * opts.actEveryMs); // spread the first actions
      while (performance.now() < deadline) {
        const marker = `m${(seq++).toString(36)}`;
        await actInRoom({ user, items, documents }, marker, (event, payload) => {
          if (event === 'chat:message' || event === 'document:save') sent.set(marker, performance.now());
          return timed(c, topic, event, payload);
        });
        await sleep(opts.actEveryMs * (0.5 + Math.random()));
      }
    }),
  );
  await measuring;
  const seconds = (performance.now() - measuredFrom) / 1000;
  await sleep(1000);
  for (const { c } of clients) c.close();
  return {
    target: opts.target ?? 'gateway',
    users: users.length,
    projects: new Set(users.map((u) => u.projectId)).size,
    seconds,
    warmupSeconds,
    pushes,
    pushErrors: errors,
    deliveries,
    deliveryLatency: summarize([...chatLat, ...docLat]),
    chatDelivery: summarize(chatLat),
    documentDelivery: summarize(docLat),
    replyLatency: summarize(replyLat),
    deliveryByWindow: [...byWindow.entries()].map(([i, w]) => ({ fromSecond: (i * windowMs) / 1000, ...summarize(w ?? []) })),
  };
}
