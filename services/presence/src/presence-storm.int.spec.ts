import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { jetstreamManager } from '@nats-io/jetstream';
import { CREATE_PROJECT_SUBJECT, PresenceRefresh, presenceSubjects, streamFor } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { callService } from '@siteflow/messaging';
import { createTestDatabase, rawSocket, startStack, type RawSocket, type Stack, type TestDatabase, testNatsUrl } from '@siteflow/testing';
import { PRESENCE_BUCKET, PresenceBucket } from './bucket/presence-bucket.js';
import { gatewayKey, type PresenceEntry } from './room/presence-room.js';

const PROJECTS = 100;
const SOCKETS = 500;
const REFRESH_MS = 400;
const TTL_MS = 4_000;
const MAX_AGE_MS = 15 * 60_000; // the service's default: opening the bucket here must not change it

describe('presence under join/leave storms: 500 connections across 100 projects', () => {
  let db: TestDatabase;
  let stack: Stack;
  let pool: pg.Pool;
  let bucket: PresenceBucket<PresenceEntry>;
  const tokens: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({
      natsUrl: testNatsUrl(),
      databaseUrl: db.url,
      env: { PRESENCE_REFRESH_MS: String(REFRESH_MS), PRESENCE_TTL_MS: String(TTL_MS), PRESENCE_SWEEP_MS: '500', LOG_LEVEL: 'warn' },
    });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    // Projects 2..100 beside the seeded demo project, with the demo users as members, created
    // the way an admin tool does (documents.project.create).
    const alice = DEMO_USERS.find((u) => u.role === 'admin')!;
    for (let id = 2; id <= PROJECTS; id++) {
      await callService(
        stack.nats,
        CREATE_PROJECT_SUBJECT,
        {
          ctx: {
            user_id: alice.id,
            username: alice.username,
            role: 'admin',
            avatar_url: alice.avatar_url,
            connection_id: 'storm-setup',
            project_id: id,
          },
          payload: {
            project_id: id,
            name: `Project ${id}`,
            members: DEMO_USERS.map((u) => ({ user_id: u.id, username: u.username, role: u.role, avatar_url: u.avatar_url })),
          },
        },
        { timeoutMs: 10_000 },
      );
    }
    for (const u of DEMO_USERS) tokens.push((await stack.devLogin(u.username)).token);
    bucket = await PresenceBucket.open<PresenceEntry>(stack.nats, MAX_AGE_MS);
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
    await stack?.stop();
    await pool?.end();
    await db?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  let serial = 0;
  /** A raw socket joined to project `projectId`; resolves once its presence_state arrived. */
  async function joined(projectId: number): Promise<RawSocket> {
    const n = ++serial;
    const s = await rawSocket(stack.socketUrl, tokens[n % tokens.length]!);
    const ref = `j${n}`;
    s.send([ref, ref, `project:${projectId}`, 'phx_join', {}]);
    const reply = await s.next((f) => f[1] === ref, 20_000);
    expect((reply[4] as { status: string }).status).toBe('ok');
    await s.next((f) => f[3] === 'presence_state', 20_000);
    return s;
  }
  async function inBatches<T>(count: number, make: (i: number) => Promise<T>, batch = 50): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < count; i += batch)
      out.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => make(i + j)))));
    return out;
  }
  // Connection keys are `p<project>.u<user>.c<connection>` (three tokens); gateway liveness keys `g.<hash>`.
  const liveKeys = async () => (await bucket.keys('*.*.*')).length;

  it('an idle room costs O(1) messages and bucket writes per gateway and interval, and leaks no key or consumer', async () => {
    let live = await inBatches(SOCKETS, (i) => joined((i % PROJECTS) + 1));
    await expect.poll(liveKeys, { timeout: 10_000 }).toBe(SOCKETS);

    // Traffic over several intervals, after the joins settled: per interval one refresh from the
    // gateway and one write of its liveness key; the 500 connection keys are not rewritten.
    const seen: PresenceRefresh[] = [];
    const writes: string[] = [];
    const sub = stack.nats.subscribe(presenceSubjects.refresh, {
      callback: (_e, m) => {
        seen.push(PresenceRefresh.parse(m.json()));
      },
    });
    const kvSub = stack.nats.subscribe(`$KV.${PRESENCE_BUCKET}.>`, {
      callback: (_e, m) => {
        writes.push(m.subject.slice(`$KV.${PRESENCE_BUCKET}.`.length));
      },
    });
    const windowMs = 5 * REFRESH_MS;
    await new Promise((r) => setTimeout(r, windowMs));
    sub.unsubscribe();
    kvSub.unsubscribe();
    const intervals = windowMs / REFRESH_MS;
    console.log(
      `idle traffic: ${seen.length} refresh messages and ${writes.length} bucket writes in ${intervals} intervals for ${SOCKETS} connections on 1 gateway`,
    );
    expect(seen.length).toBeGreaterThanOrEqual(intervals - 1);
    expect(seen.length).toBeLessThanOrEqual(intervals + 1);
    expect(new Set(seen.map((m) => m.gateway_id)).size).toBe(1);
    expect(seen.every((m) => m.connections === SOCKETS)).toBe(true);
    expect(writes.length).toBeGreaterThanOrEqual(intervals - 1);
    expect(writes.length).toBeLessThanOrEqual(intervals + 1);
    expect(new Set(writes)).toEqual(new Set([gatewayKey(seen[0]!.gateway_id)]));

    // Storm: 200 leave while 100 join, all at once.
    const leaving = live.filter((_, i) => i % 5 < 2);
    const staying = live.filter((_, i) => i % 5 >= 2);
    const [, newcomers] = await Promise.all([
      Promise.all(leaving.map((s) => s.close())),
      inBatches(100, (i) => joined((i % PROJECTS) + 1)),
    ]);
    live = [...staying, ...newcomers];
    await expect.poll(liveKeys, { timeout: 10_000 }).toBe(live.length);
    expect(live.length).toBe(400);

    // Storm: half leave by phx_leave, the rest drop their sockets.
    await Promise.all(
      live.slice(0, 200).map(async (s, i) => {
        const topic = s.frames.find((f) => f[3] === 'phx_reply')![2];
        const joinRef = s.frames.find((f) => f[3] === 'phx_reply')![0];
        s.send([joinRef, `l${i}`, topic, 'phx_leave', {}]);
        await s.next((f) => f[1] === `l${i}`, 10_000);
      }),
    );
    await expect.poll(liveKeys, { timeout: 10_000 }).toBe(200);
    await Promise.all(live.map((s) => s.close()));
    await expect.poll(liveKeys, { timeout: 10_000 }).toBe(0);

    // Nothing is left to sweep: every session ended by a leave (recorded just after the key went), none by eviction.
    const sessions = async () =>
      (await pool.query<{ type: string; n: number }>(`SELECT type, count(*)::int AS n FROM presence.events GROUP BY type ORDER BY type`))
        .rows;
    await expect.poll(sessions, { timeout: 10_000 }).toEqual([
      { type: 'SessionJoined', n: 600 },
      { type: 'SessionLeft', n: 600 },
    ]);

    // Consumers: the presence instance's one watch on the bucket, and only durable ones elsewhere.
    const jsm = await jetstreamManager(stack.nats);
    const onBucket = await jsm.consumers.list(PresenceBucket.streamName).next();
    expect(onBucket).toHaveLength(1);
    const onDocuments = await jsm.consumers.list(streamFor('documents').name).next();
    expect(onDocuments.every((c) => typeof c.config.durable_name === 'string')).toBe(true);
  });
});
