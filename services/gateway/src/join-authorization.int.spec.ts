import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { z } from 'zod';
import {
  CREATE_PROJECT_SUBJECT,
  MEMBERSHIP_SUBJECT,
  presenceSubjects,
  TRACK_BATCH_MAX,
  projectClientEvents,
  subjects,
  type ClientPayload,
  type CommandContext,
  type ProjectClientEvent,
  type ProjectMember,
  type RoomSnapshot,
} from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { callService, requestService } from '@siteflow/messaging';
import { rawSocket, useStack, type RawSocket } from '@siteflow/testing';

/**
 * Who may do what in which project, tried for every client event of the contracts' route table
 * (present and future: a new event without a sample below fails the type check and the test).
 *
 * Projects: 1 (demo: alice admin, bob and carol customers), 2 (only bob), 3 (only carol), 4 (bob
 * admin, alice customer: roles are per project, not the token's).
 */
const [alice, bob, carol] = DEMO_USERS as [(typeof DEMO_USERS)[number], (typeof DEMO_USERS)[number], (typeof DEMO_USERS)[number]];
const MISSING_PROJECT = 987_650;

type Ids = { documentId: number; otherDocumentId: number; messageId: string };

/** A valid payload for each event, as a member would send it. */
const samples: { [E in ProjectClientEvent]: (ids: Ids) => ClientPayload<E> } = {
  'document:start_editing': ({ otherDocumentId }) => ({ document_id: otherDocumentId }),
  'document:stop_editing': ({ documentId }) => ({ document_id: documentId }),
  'document:save': ({ otherDocumentId }) => ({ document_id: otherDocumentId, content: '# overwritten', base_version: 1 }),
  'document:auto_save': ({ otherDocumentId }) => ({ document_id: otherDocumentId, content: '# overwritten', base_version: 1 }),
  'document:get': ({ documentId }) => ({ document_id: documentId }),
  'document:history': ({ documentId }) => ({ document_id: documentId }),
  'document:get_version': ({ documentId }) => ({ document_id: documentId, version: 1 }),
  'document:restore': ({ documentId }) => ({ document_id: documentId, version: 1 }),
  'document:request_edit': ({ documentId }) => ({ document_id: documentId, message: 'let me in' }),
  'document:force_unlock': ({ documentId }) => ({ document_id: documentId, reason: 'mine now' }),
  'document:heartbeat': ({ documentId }) => ({ document_id: documentId }),
  'chat:message': () => ({ text: 'written by an intruder' }),
  'chat:typing': () => ({}),
  'chat:stop_typing': () => ({}),
  'chat:history': () => ({ limit: 10 }),
  'chat:mark_read': ({ messageId }) => ({ last_read_id: messageId }),
  'checklist:toggle': () => ({ item_id: 1, checked: true }),
  'checklist:add_item': () => ({ title: 'intruder item' }),
  'checklist:edit_item': () => ({ item_id: 1, title: 'renamed by an intruder' }),
  'checklist:reorder': () => ({ item_ids: [2, 1] }),
  'checklist:remove_item': () => ({ item_id: 2 }),
  'project:set_status': () => ({ status: 'on_hold' }),
  'project:update': () => ({ name: 'taken over' }),
};
const EVENTS = Object.keys(projectClientEvents) as ProjectClientEvent[];

const member = (u: (typeof DEMO_USERS)[number], role: ProjectMember['role']): ProjectMember => ({
  user_id: u.id,
  username: u.username,
  role,
  avatar_url: u.avatar_url,
});
const ctxOf = (u: (typeof DEMO_USERS)[number], projectId: number, role = u.role): CommandContext => ({
  user_id: u.id,
  username: u.username,
  role,
  avatar_url: u.avatar_url,
  connection_id: `c-${u.username}-direct`,
  project_id: projectId,
});

describe('join authorization and per-project roles', () => {
  // bob's lock (held from the start) must not lapse during the file: a lapse is a write.
  const stack = useStack({ env: { LOCK_LEASE_MS: '1500000' } });
  const tokens: Record<string, string> = {};
  let pool: pg.Pool;
  const sockets: RawSocket[] = [];
  let ids2: Ids;
  let ids1: Ids;
  /** bob in project 2 and on his user topic: sees whatever an intruder's command would broadcast. */
  let watcher: RawSocket;
  let seq = 0;
  const ref = () => String(++seq);

  const open = async (username: string) => {
    const s = await rawSocket(stack().socketUrl, tokens[username]!);
    sockets.push(s);
    return s;
  };
  const replyTo = (s: RawSocket, r: string, timeoutMs = 10_000) => s.next((f) => f[1] === r && f[3] === 'phx_reply', timeoutMs);
  const join = async (s: RawSocket, topic: string) => {
    const r = ref();
    s.send([r, r, topic, 'phx_join', {}]);
    const reply = await replyTo(s, r);
    expect(reply[4], `join ${topic}`).toMatchObject({ status: 'ok' });
    return { joinRef: r, snapshot: (reply[4] as { response: RoomSnapshot }).response };
  };
  const pushOn = async (s: RawSocket, joinRef: string, topic: string, event: string, payload: unknown) => {
    const r = ref();
    s.send([joinRef, r, topic, event, payload]);
    return (await replyTo(s, r))[4] as { status: string; response: { id: string; code?: string } };
  };
  /** Every durable write the commands could make, and the typing table (presence's joins excluded). */
  const writes = async () => {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM documents.events) + (SELECT count(*) FROM chat.events)
            + (SELECT count(*) FROM checklist.events) + (SELECT count(*) FROM chat.typing) AS n`,
    );
    return Number(rows[0]!.n);
  };
  const broadcastsSeenBy = (s: RawSocket, from: number) =>
    s.frames.slice(from).filter((f) => f[1] === null && !f[3].startsWith('presence_'));

  beforeAll(async () => {
    for (const u of DEMO_USERS) tokens[u.username] = (await stack().devLogin(u.username)).token;
    pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 2 });
    const create = (projectId: number, members: ProjectMember[]) =>
      callService(
        stack().nats,
        CREATE_PROJECT_SUBJECT,
        { ctx: ctxOf(alice, projectId), payload: { project_id: projectId, name: `Project ${projectId}`, members } },
        { timeoutMs: 20_000 },
      );
    await create(2, [member(bob, 'customer')]);
    await create(3, [member(carol, 'customer')]);
    await create(4, [member(bob, 'admin'), member(alice, 'customer')]);

    watcher = await open('bob');
    const { joinRef, snapshot } = await join(watcher, 'project:2');
    await join(watcher, 'user:2');
    const [doc, other] = snapshot.documents;
    const posted = await pushOn(watcher, joinRef, 'project:2', 'chat:message', { text: 'only for members' });
    expect(posted.status).toBe('ok');
    // bob holds a lock on the first document: a request_edit that got through would reach him.
    expect((await pushOn(watcher, joinRef, 'project:2', 'document:start_editing', { document_id: doc!.id })).status).toBe('ok');
    ids2 = { documentId: doc!.id, otherDocumentId: other!.id, messageId: posted.response.id };
    // The watcher's own broadcasts arrive before the tests that count broadcasts begin. A stream the
    // room has not heard yet is delivered by the relay's copy (docs/consistency.md, rule 10), which
    // another file's open transaction in the same Postgres can hold back for seconds: it once reached
    // the watcher in the middle of those tests, taken for an intruder's.
    await watcher.next((f) => f[1] === null && f[3] === 'chat:new_message', 60_000);
    await watcher.next((f) => f[1] === null && f[3] === 'document:locked', 60_000);

    const a = await open('alice');
    const j1 = await join(a, 'project:1');
    const m1 = await pushOn(a, j1.joinRef, 'project:1', 'chat:message', { text: 'hello' });
    ids1 = { documentId: j1.snapshot.documents[0]!.id, otherDocumentId: j1.snapshot.documents[1]!.id, messageId: m1.response.id };
  });

  afterAll(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    await (pool as pg.Pool | undefined)?.end(); // unset when beforeAll failed
  });

  it('refuses a missing project and a foreign one with the same words, and a bad topic', async () => {
    const s = await open('carol');
    const refusal = async (topic: string) => {
      const r = ref();
      s.send([r, r, topic, 'phx_join', {}]);
      return (await replyTo(s, r))[4];
    };
    const foreign = await refusal('project:2');
    const missing = await refusal(`project:${MISSING_PROJECT}`);
    expect(foreign).toEqual({ status: 'error', response: { code: 'unauthorized', reason: 'you are not a member of this project' } });
    expect(missing).toEqual(foreign);
    expect(await refusal('project:02')).toMatchObject({ status: 'error', response: { code: 'unmatched_topic' } });
    // The membership read itself answers alike for both (what the gateway asks first).
    const asked = await Promise.all(
      [2, MISSING_PROJECT].map((p) =>
        requestService(stack().nats, MEMBERSHIP_SUBJECT, { ctx: ctxOf(carol, p), payload: {} }, { timeoutMs: 10_000 }),
      ),
    );
    expect(asked[0]).toEqual({ ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } });
    expect(asked[1]).toEqual(asked[0]);
  });

  it('a non-member costs one membership lookup: no service is asked for its part of the snapshot', async () => {
    const nats = stack().nats;
    const asked: string[] = [];
    const subs = [MEMBERSHIP_SUBJECT, ...(['documents', 'chat', 'checklist', 'presence'] as const).map((s) => subjects.snapshot(s))].map(
      (subject) =>
        nats.subscribe(subject, {
          callback: (_err, msg) => {
            const ctx = (msg.json<{ data?: { ctx?: { user_id?: number; project_id?: number } } }>().data ?? {}).ctx;
            if (ctx?.user_id === carol.id && (ctx.project_id === 2 || ctx.project_id === MISSING_PROJECT)) asked.push(subject);
          },
        }),
    );
    try {
      await nats.flush();
      const s = await open('carol');
      for (const topic of ['project:2', `project:${MISSING_PROJECT}`]) {
        const r = ref();
        s.send([r, r, topic, 'phx_join', {}]);
        expect((await replyTo(s, r))[4]).toMatchObject({ status: 'error', response: { code: 'unauthorized' } });
      }
      // A member's join, after them, asks for every part: had the refused joins asked, it would be seen by now.
      const b = await open('bob');
      const r = ref();
      b.send([r, r, 'project:2', 'phx_join', {}]);
      expect((await replyTo(b, r))[4]).toMatchObject({ status: 'ok' });
      await nats.flush();
      expect(asked).toEqual([MEMBERSHIP_SUBJECT, MEMBERSHIP_SUBJECT]);
    } finally {
      for (const sub of subs) sub.unsubscribe();
    }
  });

  it.each(EVENTS)('never runs %s pushed right behind a join that will be refused', async (event) => {
    const s = await open('carol');
    const before = await writes();
    const seen = watcher.frames.length;
    for (const topic of ['project:2', `project:${MISSING_PROJECT}`, 'project:2x']) {
      const j = ref();
      const p = ref();
      // Back to back, as an attacker (or an eager client) sends them: the push arrives while the
      // join is still pending.
      s.send([j, j, topic, 'phx_join', {}]);
      s.send([j, p, topic, event, samples[event](ids2)]);
      const [joinReply, pushReply] = await Promise.all([replyTo(s, j), replyTo(s, p)]);
      expect((joinReply[4] as { status: string }).status, `join ${topic}`).toBe('error');
      expect(pushReply[4], `${event} on ${topic}`).toMatchObject({ status: 'error', response: { code: 'unmatched_topic' } });
      // And once refused, a push on it is not routed either.
      expect(await pushOn(s, j, topic, event, samples[event](ids2))).toMatchObject({
        status: 'error',
        response: { code: 'unmatched_topic' },
      });
    }
    expect(await writes()).toBe(before);
    expect(broadcastsSeenBy(watcher, seen)).toEqual([]);
  });

  it.each(EVENTS)('refuses %s pushed on a pending join that then succeeds, and runs nothing', async (event) => {
    const s = await open('bob');
    const before = await writes();
    const j = ref();
    const p = ref();
    s.send([j, j, 'project:2', 'phx_join', {}]);
    s.send([j, p, 'project:2', event, samples[event]({ ...ids2, documentId: ids2.otherDocumentId })]);
    const [joinReply, pushReply] = await Promise.all([replyTo(s, j), replyTo(s, p)]);
    expect(pushReply[4]).toMatchObject({ status: 'error', response: { code: 'unmatched_topic' } });
    expect((joinReply[4] as { status: string }).status).toBe('ok');
    expect(await writes()).toBe(before);
    await s.close();
  });

  it.each(EVENTS)('a service refuses %s for a non-member or a missing project, whoever asks', async (event) => {
    const route = projectClientEvents[event];
    const before = await writes();
    for (const ctx of [ctxOf(carol, 2), ctxOf(carol, MISSING_PROJECT), ctxOf(alice, 2, 'admin')]) {
      const reply = await requestService(stack().nats, route.subject, { ctx, payload: samples[event](ids2) }, { timeoutMs: 10_000 });
      expect(reply, `${route.subject} as ${ctx.username} in ${ctx.project_id}`).toEqual({
        ok: false,
        error: { code: 'unauthorized', message: 'you are not a member of this project' },
      });
    }
    expect(await writes()).toBe(before);
  });

  it('presence tracks and shows only members (a non-member or a missing project is refused, nothing recorded)', async () => {
    const sessions = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM presence.events')).rows[0]!.n);
    const before = await sessions();
    for (const ctx of [ctxOf(carol, 2), ctxOf(carol, MISSING_PROJECT)]) {
      const tracked = await requestService(
        stack().nats,
        presenceSubjects.track,
        { ctx, payload: { gateway_id: 'gw-intruder' } },
        { timeoutMs: 10_000 },
      );
      expect(tracked, `track in ${ctx.project_id}`).toEqual({
        ok: false,
        error: { code: 'unauthorized', message: 'you are not a member of this project' },
      });
    }
    expect(await sessions()).toBe(before);
  });

  it('presence.track_many refuses each non-member or malformed track on its own, and a malformed request whole; nothing recorded', async () => {
    const sessions = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM presence.events')).rows[0]!.n);
    const before = await sessions();
    const track = (ctx: ReturnType<typeof ctxOf>) => ({ ctx, payload: { gateway_id: 'gw-intruder' } });
    const many = (data: unknown) => requestService(stack().nats, presenceSubjects.trackMany, data, { timeoutMs: 10_000 });
    const refused = { ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } };
    const invalid = { ok: false, error: { code: 'invalid_payload', message: expect.any(String) as unknown } };
    expect(
      await many({ tracks: [track(ctxOf(carol, 2)), track(ctxOf(carol, MISSING_PROJECT)), { ctx: ctxOf(carol, 2) }, 'garbage'] }),
    ).toEqual({
      ok: true,
      data: {
        replies: [refused, refused, invalid, invalid],
      },
    });
    for (const data of [
      {},
      { tracks: [] },
      { tracks: Array.from({ length: TRACK_BATCH_MAX + 1 }, () => track(ctxOf(carol, 2))) },
      { tracks: 'x' },
    ]) {
      expect(await many(data), JSON.stringify(data).slice(0, 60)).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    }
    expect(await sessions()).toBe(before);
  });

  it('a service refuses a non-member its part of the room snapshot', async () => {
    for (const service of ['documents', 'chat', 'checklist', 'presence'] as const) {
      const reply = await requestService(
        stack().nats,
        subjects.snapshot(service),
        { ctx: ctxOf(carol, 2), payload: {} },
        { timeoutMs: 10_000 },
      );
      expect(reply, service).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    }
  });

  it("takes roles from the project's membership, not from the token", async () => {
    const a = await open('alice'); // admin by token, customer in project 4
    const b = await open('bob'); // customer by token, admin in project 4
    const ja = await join(a, 'project:4');
    const jb = await join(b, 'project:4');
    const documentId = ja.snapshot.documents[0]!.id;
    expect((await pushOn(b, jb.joinRef, 'project:4', 'document:start_editing', { document_id: documentId })).status).toBe('ok');
    for (const [event, payload] of [
      ['checklist:add_item', { title: 'by a customer' }],
      ['project:set_status', { status: 'on_hold' }],
      ['project:update', { name: 'renamed by a customer' }],
      ['document:force_unlock', { document_id: documentId }],
    ] as const) {
      expect(await pushOn(a, ja.joinRef, 'project:4', event, payload), event).toMatchObject({
        status: 'error',
        response: { code: 'forbidden' },
      });
    }
    // The token's role is ignored by the service even when the gateway passes it along.
    const direct = await requestService(
      stack().nats,
      projectClientEvents['checklist:add_item'].subject,
      { ctx: ctxOf(alice, 4, 'admin'), payload: { title: 'x' } },
      { timeoutMs: 10_000 },
    );
    expect(direct).toMatchObject({ ok: false, error: { code: 'forbidden' } });

    expect((await pushOn(b, jb.joinRef, 'project:4', 'checklist:add_item', { title: 'by the project admin' })).status).toBe('ok');
    expect((await pushOn(b, jb.joinRef, 'project:4', 'project:set_status', { status: 'in_progress' })).status).toBe('ok');
    expect((await pushOn(b, jb.joinRef, 'project:4', 'document:stop_editing', { document_id: documentId })).status).toBe('ok');
    // alice is still an admin where the project says so.
    const a1 = await join(a, 'project:1');
    expect((await pushOn(a, a1.joinRef, 'project:1', 'checklist:add_item', { title: 'by the admin of project 1' })).status).toBe('ok');
  });

  describe('integers beyond their column', () => {
    /** Every integer field of an event's payload (array items included), with its largest value. */
    const integerFields = (event: ProjectClientEvent) => {
      const schema = z.toJSONSchema(projectClientEvents[event].payload, { io: 'input', unrepresentable: 'any' }) as {
        properties?: Record<string, { type?: string; maximum?: number; items?: { type?: string; maximum?: number } }>;
      };
      return Object.entries(schema.properties ?? {}).flatMap(([name, p]) => {
        if (p.type === 'integer') return [{ name, maximum: p.maximum, array: false }];
        if (p.type === 'array' && p.items?.type === 'integer') return [{ name, maximum: p.items.maximum, array: true }];
        return [];
      });
    };
    const cases = EVENTS.flatMap((event) => integerFields(event).map((f) => ({ event, ...f })));

    it('every integer field has an upper bound a Postgres column can hold', () => {
      expect(cases.length).toBeGreaterThan(10);
      for (const c of cases) {
        expect(c.maximum, `${c.event}.${c.name}`).toBeDefined();
        expect(c.maximum!, `${c.event}.${c.name}`).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
      }
    });

    it.each(cases)(
      '$event $name: one past the bound is invalid_payload, the bound itself is never internal',
      async ({ event, name, maximum, array }) => {
        const s = await open('alice');
        const { joinRef } = await join(s, 'project:1');
        const withValue = (v: number) => ({ ...(samples[event](ids1) as object), [name]: array ? [v] : v });
        for (const tooBig of [maximum! + 1, 2 ** 31, 2 ** 53 + 2, 1e300]) {
          if (tooBig <= maximum!) continue;
          const reply = await pushOn(s, joinRef, 'project:1', event, withValue(tooBig));
          expect(reply, `${event}.${name} = ${tooBig}`).toMatchObject({ status: 'error', response: { code: 'invalid_payload' } });
          const direct = await requestService(
            stack().nats,
            projectClientEvents[event].subject,
            { ctx: ctxOf(alice, 1), payload: withValue(tooBig) },
            { timeoutMs: 10_000 },
          );
          expect(direct, `service ${event}.${name} = ${tooBig}`).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
        }
        const atBound = await pushOn(s, joinRef, 'project:1', event, withValue(maximum!));
        if (atBound.status !== 'ok') expect(atBound.response.code, `${event}.${name} = ${maximum}`).not.toBe('internal');
        await s.close();
      },
    );
  });
});
