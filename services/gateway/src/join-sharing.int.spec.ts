import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import pino from 'pino';
import { presenceSubjects, subjects, type ChatMessage, type PresenceState } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { scrapeValue, testNatsUrl } from '@siteflow/testing';
import { PresenceTracker } from './presence/presence-tracker.js';
import { MembershipReads } from './rooms/membership-reads.js';
import { OwnUnreadReads } from './rooms/snapshot.js';
import { startSiteflow, type RealtimeClient, type Siteflow, type TestUser } from '@siteflow/testkit';

/**
 * The joins of a room share one snapshot read (Room.addJoiningWithSnapshot, docs/protocol.md,
 * Joining): what each joiner sees must be exactly what it would have seen reading for itself.
 * Against the running system: the gateway's counters say the reads were shared, and the room each
 * joiner ends up with (its snapshot, then what it was sent) holds every message once, in order,
 * while messages are being posted during the joins; the unread count is each joiner's own.
 */
let siteflow: Siteflow;

beforeAll(async () => {
  siteflow = await startSiteflow({ natsUrl: testNatsUrl(), databaseUrl: inject('databaseUrl'), freshJetStream: true });
});

afterAll(async () => {
  await (siteflow as Siteflow | undefined)?.stop(); // undefined when the start failed
});

/** A counter of the gateway's /metrics, summed over its label sets. */
const gatewayCounter = (name: string) => scrapeValue(`${siteflow.gatewayUrl}/metrics`, name);

/** A request context of `u` in project `projectId` as a gateway would send it, on a connection named after the test. */
function ctxOf(u: TestUser, projectId: number, test: string) {
  return {
    user_id: u.id,
    username: u.username,
    role: 'customer' as const,
    avatar_url: u.avatar_url,
    connection_id: `c-${test}-${u.id}`,
    project_id: projectId,
  };
}

function members(n: number): TestUser[] {
  return [siteflow.user(`admin-${n}`, 'admin'), ...Array.from({ length: n - 1 }, (_, i) => siteflow.user(`member-${n}-${i}`))];
}

it('joiners that share a read while messages are posted each see every message exactly once, in order', async () => {
  const users = members(12);
  const [writerUser] = users;
  if (!writerUser) throw new Error('no users');
  const project = await siteflow.createProject({ members: users });
  const writer = await siteflow.connect(writerUser);
  const joiners: RealtimeClient[] = await Promise.all(users.map((u) => siteflow.connect(u)));
  try {
    await writer.join(project.topic);
    const posted: string[] = [];
    const post = async (text: string) => posted.push((await writer.pushOk(project.topic, 'chat:message', { text })).id);
    for (let i = 0; i < 3; i++) await post(`before ${i}`);
    const readsBefore = await gatewayCounter('siteflow_gateway_snapshot_reads_total');
    const sharedBefore = await gatewayCounter('siteflow_gateway_snapshot_reads_shared_total');

    // Posting goes on while every joiner joins at once.
    const state = { writing: true };
    const writes = (async () => {
      for (let i = 0; state.writing || i < 3; i++) await post(`during ${i}`);
    })();
    const joined = await Promise.all(joiners.map((c) => c.join(project.topic)));
    state.writing = false;
    await writes;
    const last = posted.at(-1);

    // Twelve joins at once: at least some of them shared a read.
    expect(await gatewayCounter('siteflow_gateway_snapshot_reads_shared_total')).toBeGreaterThan(sharedBefore);
    expect(await gatewayCounter('siteflow_gateway_snapshot_reads_total')).toBeLessThan(readsBefore + joiners.length);

    for (const [i, client] of joiners.entries()) {
      const room = joined[i];
      if (!room) throw new Error('missing join');
      const fromSnapshot = room.snapshot.chat.messages.map((m) => m.id);
      const view = () => [
        ...fromSnapshot,
        ...client
          .frames()
          .filter((f) => f.direction === 'in' && f.topic === project.topic && f.event === 'chat:new_message')
          .map((f) => (f.payload as ChatMessage).id),
      ];
      await expect.poll(() => view().includes(last ?? ''), { timeout: 15_000 }).toBe(true);
      // Its snapshot, then what it was sent: every message once, in the order they were posted.
      expect(view(), `joiner ${i}`).toEqual(posted);
    }
  } finally {
    await Promise.all([writer.close(), ...joiners.map((c) => c.close())]);
  }
});

it("a joiner that shares another user's read gets its own unread count, never the other's", async () => {
  const users = members(9);
  const [admin] = users;
  if (!admin) throw new Error('no users');
  const project = await siteflow.createProject({ members: users });
  const a = await siteflow.connect(admin);
  try {
    await a.join(project.topic);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await a.pushOk(project.topic, 'chat:message', { text: `m${i}` })).id);
    // Readers: the first four have read up to the second message, the others nothing.
    const readers = users.slice(1, 5);
    for (const u of readers) {
      const c = await siteflow.connect(u);
      try {
        await c.join(project.topic);
        await c.pushOk(project.topic, 'chat:mark_read', { last_read_id: ids[1] ?? '' });
      } finally {
        await c.close();
      }
    }
    const sharedBefore = await gatewayCounter('siteflow_gateway_snapshot_reads_shared_total');
    const clients = await Promise.all(users.slice(1).map((u) => siteflow.connect(u)));
    try {
      const rooms = await Promise.all(clients.map((c) => c.join(project.topic)));
      expect(await gatewayCounter('siteflow_gateway_snapshot_reads_shared_total')).toBeGreaterThan(sharedBefore);
      const counts = rooms.map((r) => r.snapshot.chat.unread_count);
      expect(counts).toEqual(users.slice(1).map((u) => (readers.includes(u) ? 2 : 4)));
      for (const r of rooms) expect(Object.keys(r.snapshot.chat).sort()).toEqual(['has_more', 'messages', 'unread_count']);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  } finally {
    await a.close();
  }
});

it('the sharers of one turn are asked of the running chat in one request, each given its own count; a non-member none', async () => {
  const users = members(4);
  const [admin, ...others] = users;
  if (!admin) throw new Error('no users');
  const project = await siteflow.createProject({ members: users });
  const a = await siteflow.connect(admin);
  try {
    await a.join(project.topic);
    for (let i = 0; i < 3; i++) await a.pushOk(project.topic, 'chat:message', { text: `m${i}` });
  } finally {
    await a.close();
  }
  const outsider = siteflow.user('outsider-unread');
  const ctx = (u: TestUser) => ctxOf(u, project.id, 'unread');
  const reads = new OwnUnreadReads(siteflow.nats);
  const results = await Promise.all([...others, admin, outsider].map((u) => reads.read(ctx(u), 5_000)));
  expect(results).toEqual([
    ...others.map(() => ({ ok: true, unread: 3 })),
    { ok: true, unread: 0 }, // the author: its own messages are not unread
    { ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } },
  ]);
  expect(reads.stats).toEqual({ requests: 1, users: 5 });
});

it('the membership reads of one turn are asked of the running documents in one request, each given its own role', async () => {
  const users = members(3);
  const project = await siteflow.createProject({ members: users });
  const outsider = siteflow.user('outsider-membership');
  const reads = new MembershipReads(siteflow.nats);
  // The token's role (customer): documents answers the member's own.
  const ctx = (u: TestUser) => ctxOf(u, project.id, 'membership');
  const results = await Promise.all([...users, outsider].map((u) => reads.read(ctx(u), 5_000)));
  expect(results).toEqual([
    { ok: true, role: 'admin' },
    { ok: true, role: 'customer' },
    { ok: true, role: 'customer' },
    { ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } },
  ]);
  expect(reads.stats).toEqual({ requests: 1, users: 4 });
});

it('the tracks of one turn go to the running presence in one request, each tracked as alone; a non-member refused on its own', async () => {
  const users = members(3);
  const project = await siteflow.createProject({ members: users });
  const outsider = siteflow.user('outsider-track');
  const asked: string[] = [];
  const tracker = new PresenceTracker(siteflow.nats, pino({ level: 'silent' }), {
    gatewayId: 'gw-track-many',
    refreshMs: 60_000,
    timeoutMs: 10_000,
    observeRequest: (subject) => asked.push(subject),
  });
  const ctx = (u: TestUser) => ctxOf(u, project.id, 'track');
  try {
    const results = await Promise.all([...users, outsider].map((u) => tracker.track(ctx(u))));
    expect(asked).toEqual([presenceSubjects.trackMany]);
    expect(results.map((r) => (r.ok ? r.tracked.meta.user_id : r.error))).toEqual([
      ...users.map((u) => u.id),
      { code: 'unauthorized', message: 'you are not a member of this project' },
    ]);
    const refs = results.flatMap((r) => (r.ok ? [r.tracked.meta.phx_ref] : []));
    expect(new Set(refs).size).toBe(users.length);
    // Presence holds each of them, under its own user, with the ref its track answered.
    const viewer = users[0]!;
    const snapshot = await requestService<{ part: { state: PresenceState } }>(
      siteflow.nats,
      subjects.snapshot('presence'),
      { ctx: ctx(viewer), payload: {} },
      { timeoutMs: 10_000 },
    );
    if (!snapshot.ok) throw new Error(snapshot.error.message);
    expect(
      Object.entries(snapshot.data.part.state)
        .flatMap(([user, { metas }]) => metas.map((m) => [Number(user), m.phx_ref]))
        .sort(),
    ).toEqual(users.map((u, i) => [u.id, refs[i]]).sort());
  } finally {
    for (const u of users) tracker.untrack(ctx(u));
    await tracker.close();
  }
});
