import pg from 'pg';
import { CpuMeter, cpuMsPer } from './cpu.js';
import { markerOf } from './room.js';
import { PhxClient } from './phx-client.js';
import { summarize, type LatencySummary } from './stats.js';
import type { BenchUser } from './users.js';
import { nth } from './util.js';

export interface ChatMembersResult {
  /** Members of the project; five of them are joined (project and own user topic) and take turns posting. */
  members: number;
  posts: number;
  /** chat:message push → its reply (the message is stored), one post at a time. */
  replyLatency: LatencySummary;
  /** push → each joined member's `chat:new_message` (the sender's own included). */
  deliveryLatency: LatencySummary;
  /** CPU per post of each process group, ms (summed over this room's blocks only). */
  cpuMsPerPost: Record<string, number>;
  /** Postgres WAL written per post, bytes (the whole cluster: every row a post writes, plus whatever else ran meanwhile). */
  walBytesPerPost: number;
  /** `chat:unread` frames the joined members got on their own `user:<id>` topic, and whether each ended at its true count. */
  badges: number;
  badgesRight: boolean;
}

interface Room {
  members: BenchUser[];
  clients: PhxClient[];
  topic: string;
  replies: number[];
  deliveries: number[];
  sent: Map<string, number>;
  cpuSeconds: Record<string, number>;
  walBytes: number;
  posted: number;
  /** Posts by each joined user, and the last badge each got. */
  postsBy: Map<number, number>;
  lastBadge: Map<number, number>;
  badges: number;
}

/**
 * What one chat post costs against the number of members: rooms (e.g. 5 and 500 members) posted
 * in by their first five members in turn, one post at a time, in alternating blocks of `block`
 * posts, so that whatever else loads the shared machine falls on every room alike. CPU is read from
 * /proc per block and summed per room; WAL bytes from `pg_current_wal_lsn()` around each block.
 * Nobody marks read: unread messages pile up as the run goes on, as in a room most members are
 * away from.
 */
export async function runChatMembers(
  socketUrl: string,
  databaseUrl: string,
  rooms: BenchUser[][],
  opts: { posts: number; block: number; cpu: Record<string, () => number[]> },
): Promise<ChatMembersResult[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const lsn = async () => (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0';
  const walSince = async (from: string) =>
    Number(
      (await db.query<{ n: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint AS n', [from])).rows[0]?.n ?? 0,
    );
  const state: Room[] = [];
  try {
    for (const members of rooms) {
      const joined = members.slice(0, 5);
      const topic = `project:${joined[0]?.projectId ?? 0}`;
      const room: Room = {
        members,
        clients: [],
        topic,
        replies: [],
        deliveries: [],
        sent: new Map(),
        cpuSeconds: {},
        walBytes: 0,
        posted: 0,
        postsBy: new Map(joined.map((u) => [u.id, 0])),
        lastBadge: new Map(),
        badges: 0,
      };
      state.push(room);
      room.clients = await Promise.all(
        joined.map(async (u) => {
          const c = await PhxClient.connect(socketUrl, u.token);
          c.onEvent = (_t, event, payload: { text?: string; project_id?: number; count?: number }, at) => {
            if (event === 'chat:new_message') {
              const t0 = room.sent.get(markerOf(payload.text) ?? '');
              if (t0 !== undefined) room.deliveries.push(at - t0);
            } else if (event === 'chat:unread' && payload.project_id === u.projectId && typeof payload.count === 'number') {
              room.badges++;
              room.lastBadge.set(u.id, payload.count);
            }
          };
          await c.join(topic);
          await c.join(`user:${u.id}`);
          return c;
        }),
      );
    }
    for (let done = 0; done < opts.posts; done += opts.block) {
      for (const room of state) {
        const n = Math.min(opts.block, opts.posts - done);
        const meter = new CpuMeter(opts.cpu);
        const walFrom = await lsn();
        meter.start();
        for (let k = 0; k < n; k++) {
          const i = room.posted++;
          const marker = `c${room.members.length}x${i}`;
          const poster = nth(room.clients, i);
          const t0 = performance.now();
          room.sent.set(marker, t0);
          // The joined members take turns (chat allows a user 60 messages a minute).
          const r = await poster.push(room.topic, 'chat:message', { text: `post ${i} #${marker}` });
          if (r.status !== 'ok') throw new Error(`chat:message in a room of ${room.members.length}: ${JSON.stringify(r)}`);
          room.replies.push(performance.now() - t0);
          const author = nth(room.members.slice(0, 5), i).id;
          room.postsBy.set(author, (room.postsBy.get(author) ?? 0) + 1);
        }
        for (const [k, s] of Object.entries(meter.stop())) room.cpuSeconds[k] = (room.cpuSeconds[k] ?? 0) + s;
        room.walBytes += await walSince(walFrom);
      }
    }
    // Each joined member's last badge is the number of posts by the others (nobody read anything).
    const rightFor = (room: Room) =>
      [...room.postsBy.keys()].every((id) => room.lastBadge.get(id) === room.posted - (room.postsBy.get(id) ?? 0));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !state.every(rightFor)) await new Promise((r) => setTimeout(r, 100));
    return state.map((room) => ({
      members: room.members.length,
      posts: room.posted,
      replyLatency: summarize(room.replies),
      deliveryLatency: summarize(room.deliveries),
      cpuMsPerPost: cpuMsPer(room.cpuSeconds, room.posted),
      walBytesPerPost: Math.round(room.walBytes / room.posted),
      badges: room.badges,
      badgesRight: rightFor(room),
    }));
  } finally {
    for (const room of state) for (const c of room.clients) c.close();
    await db.end();
  }
}
