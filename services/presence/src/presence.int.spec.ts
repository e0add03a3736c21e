import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Presence, type Channel, type Socket } from 'phoenix';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { presenceSubjects, type PresenceMeta, type RoomSnapshot } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import {
  connectClient,
  createTestDatabase,
  joinChannel,
  recordEvents,
  startStack,
  type Stack,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';
import { PresenceBucket } from './bucket/presence-bucket.js';
import type { PresenceEntry } from './room/presence-room.js';

/** A stock phoenix client in project:1 with `Presence`, recording first/last-tab callbacks. */
async function inRoom(socket: Socket) {
  const channel: Channel = socket.channel('project:1', {});
  const presence = new Presence(channel);
  const calls: string[] = [];
  presence.onJoin((id?: string, current?: unknown) => {
    calls.push(`${current ? 'another tab' : 'online'} ${id}`);
  });
  presence.onLeave((id?: string, current?: { metas: unknown[] }) => {
    calls.push(`${current?.metas.length === 0 ? 'offline' : 'closed a tab'} ${id}`);
  });
  const snapshot = await joinChannel<RoomSnapshot>(channel);
  const online = () =>
    Object.fromEntries(presence.list((id: string, p: { metas: PresenceMeta[] }) => [id, p.metas.length] as const)) as Record<
      string,
      number
    >;
  const metasOf = (id: string) => presence.list((key: string, p: { metas: PresenceMeta[] }) => (key === id ? p.metas : [])).flat();
  return { channel, presence, calls, snapshot, online, metasOf };
}

describe('presence with the stock phoenix client', () => {
  let db: TestDatabase;
  let stack: Stack;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({
      natsUrl: testNatsUrl(),
      databaseUrl: db.url,
      // The bucket's max_age at its minimum (3 × TTL), so a connection can outlive it in a test.
      env: { PRESENCE_REFRESH_MS: '300', PRESENCE_TTL_MS: '3000', PRESENCE_SWEEP_MS: '300', PRESENCE_KEY_MAX_AGE_MS: '9000' },
    });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  it('two users, one with two tabs, see each other; closing one tab keeps the user, the last tab removes them', async () => {
    const [alice, bob, carol] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob'), stack.devLogin('carol')]);
    const sockets: Socket[] = [];
    try {
      const sb = await connectClient(stack.socketUrl, bob.token);
      sockets.push(sb);
      const b = await inRoom(sb);
      // Bob's own connection is in his presence_state at once.
      await expect.poll(() => b.online()).toEqual({ [bob.user.id]: 1 });

      const sa1 = await connectClient(stack.socketUrl, alice.token);
      sockets.push(sa1);
      const a1 = await inRoom(sa1);
      await expect.poll(() => a1.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      await expect.poll(() => b.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });

      const sa2 = await connectClient(stack.socketUrl, alice.token);
      sockets.push(sa2);
      const a2 = await inRoom(sa2);
      await expect.poll(() => a2.online()).toEqual({ [alice.user.id]: 2, [bob.user.id]: 1 });
      await expect.poll(() => b.online()).toEqual({ [alice.user.id]: 2, [bob.user.id]: 1 });
      await expect.poll(() => a1.online()).toEqual({ [alice.user.id]: 2, [bob.user.id]: 1 });
      expect(b.calls).toEqual([`online ${bob.user.id}`, `online ${alice.user.id}`, `another tab ${alice.user.id}`]);
      const meta = b.metasOf(String(alice.user.id))[0]!;
      expect(meta).toMatchObject({
        user_id: alice.user.id,
        username: 'alice',
        role: 'admin',
        editing: false,
        current_document: null,
        editing_since: null,
      });
      expect(meta.avatar_url).toBe(alice.user.avatar_url);
      expect(Date.parse(meta.online_at)).not.toBeNaN();

      sa2.disconnect();
      await expect.poll(() => b.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      expect(b.calls.at(-1)).toBe(`closed a tab ${alice.user.id}`);

      sa1.disconnect();
      await expect.poll(() => b.online()).toEqual({ [bob.user.id]: 1 });
      expect(b.calls.at(-1)).toBe(`offline ${alice.user.id}`);

      // Sessions are events: a newcomer's snapshot shows alice offline with when she was last seen.
      const sc = await connectClient(stack.socketUrl, carol.token);
      sockets.push(sc);
      const c = await inRoom(sc);
      await expect.poll(() => c.online()).toEqual({ [bob.user.id]: 1, [carol.user.id]: 1 });
      const seen = c.snapshot.members_last_seen.find((m) => m.user_id === alice.user.id);
      expect(seen?.last_seen_at).toBeTruthy();
      expect(c.snapshot.members_last_seen.some((m) => m.user_id === bob.user.id)).toBe(false);
      const types = await pool.query(
        `SELECT type, count(*)::int AS n FROM presence.events WHERE data->>'user_id' = $1 GROUP BY type ORDER BY type`,
        [String(alice.user.id)],
      );
      expect(types.rows).toEqual([
        { type: 'SessionJoined', n: 2 },
        { type: 'SessionLeft', n: 2 },
      ]);
    } finally {
      for (const s of sockets) s.disconnect();
    }
  });

  it('records sessions in its store and publishes none of them: nobody else reads them', async () => {
    const alice = await stack.devLogin('alice');
    // Every presence event of any project, published (relay) or fast-copied.
    const heard: string[] = [];
    const subs = ['project.*.ev.presence.>', 'project.*.now.presence.>'].map((subject) =>
      stack.nats.subscribe(subject, {
        callback: (_err, msg) => {
          heard.push(msg.subject);
        },
      }),
    );
    await stack.nats.flush();
    try {
      const sa = await connectClient(stack.socketUrl, alice.token);
      await inRoom(sa);
      sa.disconnect();
      const stored = async () =>
        (
          await pool.query<{ type: string; position: string }>(
            `SELECT type, global_position::text AS position FROM presence.events
              WHERE data->>'user_id' = $1 ORDER BY global_position DESC LIMIT 1`,
            [String(alice.user.id)],
          )
        ).rows[0];
      await expect.poll(async () => (await stored())?.type, { timeout: 10_000 }).toBe('SessionLeft');
      const last = Number((await stored())!.position);
      // The relay has passed over both: its saved checkpoint is at or past the leave.
      const checkpoint = async () =>
        Number((await pool.query<{ p: string }>(`SELECT max(global_position)::text AS p FROM presence.outbox_checkpoint`)).rows[0]?.p ?? 0);
      await expect.poll(checkpoint, { timeout: 10_000 }).toBeGreaterThanOrEqual(last);

      const info = await (await jetstreamManager(stack.nats)).streams.info('EVENTS_PRESENCE', { subjects_filter: '>' });
      const storedSubjects = Object.keys(info.state.subjects ?? {});
      expect(storedSubjects.filter((subject) => /\.Session(Joined|Left)$/.test(subject))).toEqual([]);
      await stack.nats.flush();
      expect(heard.filter((subject) => /\.Session(Joined|Left)$/.test(subject))).toEqual([]);
    } finally {
      for (const sub of subs) sub.unsubscribe();
    }
  });

  it("meta follows documents' lock events, and heartbeats broadcast nothing", async () => {
    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    try {
      const a = await inRoom(sa);
      await inRoom(sb);
      await expect.poll(() => a.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });

      // Several refresh intervals pass: the refreshes rewrite keys but no diff reaches anyone.
      const diffs = recordEvents(a.channel, 'presence_diff');
      await new Promise((r) => setTimeout(r, 1_200));
      expect(diffs.events).toEqual([]);

      // Bob's connection, as documents would name it in its lock events.
      const bucket = await PresenceBucket.open<PresenceEntry>(stack.nats, 3_000);
      const keys = (await bucket.keys(`p1.u${bob.user.id}.>`)).filter((k) => k.startsWith(`p1.u${bob.user.id}.`));
      expect(keys).toHaveLength(1);
      const connectionId = keys[0]!.split('.c')[1]!;
      const before = a.metasOf(String(bob.user.id))[0]!;

      // Reads of the bucket naming Bob's key (JetStream's get-message API, stored or direct): the
      // service applies a lock to the copy its watch holds, without asking the bucket (issue 16).
      const readsOfBob: string[] = [];
      const bobKey = `$KV.presence.${keys[0]!}`;
      const gets = ['$JS.API.STREAM.MSG.GET.KV_presence', '$JS.API.DIRECT.GET.KV_presence.>'].map((subject) =>
        stack.nats.subscribe(subject, {
          callback: (_err, m) => {
            if (m.subject.endsWith(bobKey) || m.string().includes(bobKey)) readsOfBob.push(m.subject);
          },
        }),
      );
      await stack.nats.flush();

      const js = jetstream(stack.nats);
      const lockedAt = new Date().toISOString();
      const publishLockEvent = (type: string, version: number, data: Record<string, unknown>) => {
        const id = randomUUID();
        return js.publish(
          `project.1.ev.documents.${type}`,
          JSON.stringify({
            event_id: id,
            type,
            stream_id: 'document-3',
            version,
            global_position: 1000 + version,
            project_id: 1,
            occurred_at: lockedAt,
            data,
            broadcast: null,
          }),
          { msgID: id },
        );
      };
      await publishLockEvent('LockAcquired', 1, {
        document_id: 3,
        project_id: 1,
        user_id: bob.user.id,
        username: 'bob',
        connection_id: connectionId,
        locked_at: lockedAt,
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      });
      await expect
        .poll(() => a.metasOf(String(bob.user.id))[0])
        .toMatchObject({ editing: true, current_document: 3, editing_since: lockedAt });
      const editing = a.metasOf(String(bob.user.id));
      expect(editing).toHaveLength(1);
      expect(editing[0]!.phx_ref_prev).toBe(before.phx_ref);
      expect(diffs.events.at(-1)).toEqual({
        joins: { [bob.user.id]: { metas: [editing[0]] } },
        leaves: { [bob.user.id]: { metas: [before] } },
      });

      await publishLockEvent('LockReleased', 2, {
        document_id: 3,
        project_id: 1,
        user_id: bob.user.id,
        connection_id: connectionId,
        reason: 'released',
        released_at: new Date().toISOString(),
      });
      await expect
        .poll(() => a.metasOf(String(bob.user.id))[0])
        .toMatchObject({ editing: false, current_document: null, editing_since: null });
      expect(a.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      // Exactly two updates: the lock and the release, no noise.
      expect(diffs.events).toHaveLength(2);
      for (const sub of gets) sub.unsubscribe();
      expect(readsOfBob).toEqual([]);
    } finally {
      sa.disconnect();
      sb.disconnect();
    }
  });

  it("a connection outlives the bucket's max_age: its key is rewritten before it ages out, and nobody sees a leave", async () => {
    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    try {
      const a = await inRoom(sa);
      const b = await inRoom(sb);
      await expect.poll(() => a.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      await expect.poll(() => b.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      // From here on (earlier tests' sockets may still have been leaving while these joined).
      const [callsA, callsB] = [a.calls.length, b.calls.length];
      const bucket = await PresenceBucket.open<PresenceEntry>(stack.nats, 9_000);
      const keyOfBob = (await bucket.keys(`p1.u${bob.user.id}.*`))[0]!;
      const first = (await bucket.get(keyOfBob))!;
      // 12 s: past the bucket's max_age (9 s), which removes any message older than it.
      await new Promise((r) => setTimeout(r, 12_000));
      const later = await bucket.get(keyOfBob);
      expect(later?.value?.meta).toEqual(first.value!.meta);
      expect(later!.revision).toBeGreaterThan(first.revision);
      expect(a.online()).toEqual({ [alice.user.id]: 1, [bob.user.id]: 1 });
      expect(a.calls.slice(callsA)).toEqual([]);
      expect(b.calls.slice(callsB)).toEqual([]);
    } finally {
      sa.disconnect();
      sb.disconnect();
    }
  });

  it('refuses malformed track requests with invalid_payload, and survives a malformed refresh', async () => {
    const ctx = { user_id: 2, username: 'bob', role: 'customer', avatar_url: '/avatars/bob.svg', connection_id: 'c1', project_id: 1 };
    const noCtx = await requestService(stack.nats, presenceSubjects.track, { payload: {} }, { timeoutMs: 5_000 });
    expect(noCtx).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    const noGateway = await requestService(stack.nats, presenceSubjects.track, { ctx, payload: {} }, { timeoutMs: 5_000 });
    expect(noGateway).toMatchObject({
      ok: false,
      error: { code: 'invalid_payload', message: expect.stringMatching(/gateway_id/) as string },
    });
    const badId = await requestService(
      stack.nats,
      presenceSubjects.track,
      { ctx: { ...ctx, connection_id: 'a b*' }, payload: { gateway_id: 'gw-test' } },
      { timeoutMs: 5_000 },
    );
    expect(badId).toMatchObject({
      ok: false,
      error: { code: 'invalid_payload', message: expect.stringMatching(/connection_id/) as string },
    });

    stack.nats.publish(presenceSubjects.refresh, new TextEncoder().encode('{"gateway_id": 42}'));
    stack.nats.publish(presenceSubjects.refresh, new TextEncoder().encode('not json'));
    // Still serving: a well-formed untrack of a connection that is not there says so.
    const untrack = await requestService(stack.nats, presenceSubjects.untrack, { ctx, payload: {} }, { timeoutMs: 5_000 });
    expect(untrack).toEqual({ ok: true, data: { removed: false } });
    expect(stack.process('presence').running).toBe(true);
  });
});
