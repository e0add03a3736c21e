import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Presence, type Channel, type Socket } from 'phoenix';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { AuthorizationError, connect, PermissionViolationError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  adminProjectSubjects,
  CREATE_PROJECT_SUBJECT,
  MEMBERSHIP_SUBJECT,
  presenceSubjects,
  PROJECTS_OF_USER_SUBJECT,
  projectClientEvents,
  SERVICES,
  subjects,
  type PresenceMeta,
  type RoomSnapshot,
} from '@siteflow/contracts';
import { startNatsServer, type NatsServer } from '@siteflow/devstack';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import {
  assertOk,
  connectClient,
  createTestDatabase,
  joinChannel,
  nextEvent,
  push,
  startStack,
  type Stack,
  type StackProcessName,
  type TestDatabase,
} from '@siteflow/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The shipped file itself, not a copy: the test's server includes it. */
const AUTH_CONF = path.join(ROOT, 'infra/nats/auth.conf');
const USERS = ['admin', 'gateway', 'chat', 'documents', 'presence', 'checklist'] as const;
type NatsUser = (typeof USERS)[number];
// Letters and digits, starting with a letter: what infra/nats/auth.conf asks of a password.
const passwords = Object.fromEntries(USERS.map((u) => [u, `p${randomBytes(24).toString('hex')}`])) as Record<NatsUser, string>;

/**
 * infra/nats/auth.conf: each process of the stack connects as its own NATS user. The whole stack
 * works under those permissions (through the gateway, as a browser uses it), and the users are
 * refused what they must not do: forge another service's events, call its commands, read its
 * subjects or its replies, touch its streams.
 */
describe('NATS least privilege', () => {
  let dir: string;
  let server: NatsServer;
  let db: TestDatabase;
  let stack: Stack;
  const connections: NatsConnection[] = [];
  const sockets: Socket[] = [];

  const urlFor = (user: NatsUser) => {
    const url = new URL(server.url);
    url.username = user;
    url.password = passwords[user];
    return url.toString();
  };
  /** Connects as `user` the way the processes do (its own inbox prefix included). */
  const connectAs = async (user: NatsUser) => {
    const nc = await connect({ ...natsOptionsFromUrl(urlFor(user)), name: `permissions-test:${user}`, reconnect: false, timeout: 5_000 });
    connections.push(nc);
    return nc;
  };
  /** Permission violations the server reports to this connection, from now on. */
  const violationsOf = (nc: NatsConnection) => {
    const seen: string[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError) seen.push(`${s.error.operation} ${s.error.subject}`);
      }
    })();
    return seen;
  };
  /** Resolves with how a request ended: `refused` (permission violation) or `sent` (answered, or no answer in time). */
  const tryRequest = (nc: NatsConnection, subject: string, timeoutMs = 2_000) =>
    nc.request(subject, JSON.stringify({ pattern: subject, data: {}, id: randomUUID() }), { timeout: timeoutMs }).then(
      () => 'sent' as const,
      (err: unknown) =>
        err instanceof PermissionViolationError || (err instanceof Error && err.cause instanceof PermissionViolationError)
          ? ('refused' as const)
          : ('sent' as const),
    );
  /** Resolves with the error that closed the subscription (a refused one closes at once). */
  const subscriptionEnd = async (nc: NatsConnection, subject: string, queue?: string) => {
    const sub: Subscription = nc.subscribe(subject, queue ? { queue } : {});
    await nc.flush();
    return Promise.race([sub.closed, new Promise<'still open'>((r) => setTimeout(() => r('still open'), 2_000))]).finally(() =>
      sub.unsubscribe(),
    );
  };
  /** The server's own record of refused publishes and subscriptions. */
  const serverViolations = () =>
    server
      .logs()
      .split('\n')
      .filter((line) => /violation/i.test(line));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'siteflow-nats-permissions-'));
    server = await startNatsServer({
      dataDir: path.join(dir, 'nats'),
      include: AUTH_CONF,
      monitoring: true,
      env: Object.fromEntries(USERS.map((u) => [`NATS_${u.toUpperCase()}_PASSWORD`, passwords[u]])),
    });
    db = await createTestDatabase(inject('databaseUrl'));
    const processEnv: Partial<Record<StackProcessName, Record<string, string>>> = {};
    for (const name of ['gateway', ...SERVICES] as const) processEnv[name] = { NATS_URL: urlFor(name) };
    // The harness itself (health checks, stream cleanup) is the operator: admin.
    stack = await startStack({ natsUrl: urlFor('admin'), databaseUrl: db.url, processEnv });
  });
  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      // Unset when beforeAll failed.
      (stack as Stack | undefined)?.dumpLogs();
      process.stderr.write(`----- nats-server -----\n${(server as NatsServer | undefined)?.logs() ?? ''}\n`);
    });
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const nc of connections) await nc.close().catch(() => undefined);
    // Unset when beforeAll failed.
    await (stack as Stack | undefined)?.stop();
    await (server as NatsServer | undefined)?.stop();
    await (db as TestDatabase | undefined)?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses a connection without credentials, as an unknown user, or with another user's password", async () => {
    const servers = server.url;
    const attempt = (auth: { user?: string; pass?: string }) => connect({ servers, ...auth, reconnect: false, timeout: 5_000 });
    await expect(attempt({})).rejects.toBeInstanceOf(AuthorizationError);
    await expect(attempt({ user: 'mallory', pass: passwords.admin })).rejects.toBeInstanceOf(AuthorizationError);
    await expect(attempt({ user: 'chat', pass: passwords.gateway })).rejects.toBeInstanceOf(AuthorizationError);
    await expect(attempt({ user: 'admin', pass: `${passwords.admin}x` })).rejects.toBeInstanceOf(AuthorizationError);
    // The right password is let in.
    expect((await connectAs('chat')).isClosed()).toBe(false);
  });

  it('runs the whole stack with each process as its own user: chat, locks and saves, checklist, presence', async () => {
    // The server's view: every connection of a process (a service has two, its own and Nest's
    // `-rpc` one) is authenticated as that process's user; the harness as admin.
    const connz = (await (await fetch(`${server.monitorUrl}/connz?auth=true&limit=1024`)).json()) as {
      connections: Array<{ name?: string; authorized_user?: string }>;
    };
    const asWhom = connz.connections.map((c) => `${(c.name ?? '').split(':')[0]!.replace(/-rpc$/, '')} as ${c.authorized_user}`);
    const processes = ['gateway', ...SERVICES] as const;
    expect(new Set(asWhom.filter((w) => processes.some((p) => w.startsWith(`${p} `))))).toEqual(
      new Set(processes.map((p) => `${p} as ${p}`)),
    );
    expect(asWhom).toContain('stack-harness as admin');
    for (const s of SERVICES)
      expect(
        connz.connections.filter((c) => c.name?.startsWith(`${s}-rpc:`) && c.authorized_user === s),
        s,
      ).toHaveLength(1);

    // Cross-service durable consumers worked under their permissions: chat and checklist learned
    // demo project 1 from documents' ProjectCreated.
    const query = async (sql: string) => {
      const pool = new pg.Pool({ connectionString: db.url, max: 1 });
      try {
        return (await pool.query<{ n: number }>(sql)).rows[0]!.n;
      } finally {
        await pool.end();
      }
    };
    await expect.poll(() => query('SELECT count(*)::int AS n FROM checklist.items WHERE project_id = 1'), { timeout: 15_000 }).toBe(12);
    await expect
      .poll(() => query('SELECT count(*)::int AS n FROM chat.members WHERE project_id = 1'), { timeout: 15_000 })
      .toBeGreaterThan(1);

    const [alice, bob] = await Promise.all([stack.devLogin('alice'), stack.devLogin('bob')]);
    const sa = await connectClient(stack.socketUrl, alice.token);
    const sb = await connectClient(stack.socketUrl, bob.token);
    sockets.push(sa, sb);
    const ca: Channel = sa.channel('project:1', {});
    const cb: Channel = sb.channel('project:1', {});
    const presence = new Presence(cb);
    const metasOf = (userId: number) =>
      presence.list((key: string, p: { metas: PresenceMeta[] }) => (key === String(userId) ? p.metas : [])).flat();
    const snapshot = await joinChannel<RoomSnapshot>(ca);
    await joinChannel(cb);
    const aliceUser = sa.channel(`user:${alice.user.id}`, {});
    const bobUser = sb.channel(`user:${bob.user.id}`, {});
    await Promise.all([joinChannel(aliceUser), joinChannel(bobUser)]);
    expect(snapshot.project?.id).toBe(1);
    expect(snapshot.checklist.items).toHaveLength(12);

    // Presence: bob sees both users online (presence's bucket, its diffs on project.1.eph.presence).
    await expect.poll(() => [metasOf(alice.user.id).length, metasOf(bob.user.id).length], { timeout: 10_000 }).toEqual([1, 1]);

    // Chat: alice's message reaches bob live, typing too, and bob's unread count on user:<bob>.
    const typing = nextEvent(cb, 'chat:typing', (t) => t.user_id === alice.user.id, 10_000);
    expect((await push(ca, 'chat:typing', {})).status).toBe('ok');
    expect(await typing).toMatchObject({ user_id: alice.user.id, typing: true });
    const received = nextEvent(cb, 'chat:new_message', () => true, 10_000);
    const unread = nextEvent(bobUser, 'chat:unread', () => true, 10_000);
    const posted = await push(ca, 'chat:message', { text: 'Permissions are in place' });
    assertOk(posted);
    expect(await received).toEqual(posted.response);
    expect(await unread).toEqual({ project_id: 1, count: 1 });

    // Documents: alice locks and saves; bob sees both; his request to edit reaches alice's user topic.
    const locked = nextEvent(cb, 'document:locked', (l) => l.document_id === 1, 10_000);
    expect((await push(ca, 'document:start_editing', { document_id: 1 })).status).toBe('ok');
    expect(await locked).toMatchObject({ document_id: 1, user_id: alice.user.id });
    // Presence follows documents' lock events (its durable consumer on EVENTS_DOCUMENTS).
    await expect.poll(() => metasOf(alice.user.id)[0], { timeout: 10_000 }).toMatchObject({ editing: true, current_document: 1 });
    const requested = nextEvent(aliceUser, 'document:edit_requested', () => true, 10_000);
    expect((await push(cb, 'document:request_edit', { document_id: 1 })).status).toBe('ok');
    expect(await requested).toMatchObject({ document_id: 1, user_id: bob.user.id });
    const updated = nextEvent(cb, 'document:updated', (u) => u.document_id === 1, 10_000);
    const saved = await push(ca, 'document:save', { document_id: 1, content: '<p>Spec v2</p>', base_version: 1 });
    expect(saved.status).toBe('ok');
    expect(await updated).toMatchObject({ document_id: 1, version: 2, content: '<p>Spec v2</p>' });

    // Checklist: bob ticks an item; alice sees the item and the progress.
    const item = snapshot.checklist.items[0]!;
    const ticked = nextEvent(ca, 'checklist:updated', () => true, 10_000);
    const progressed = nextEvent(ca, 'progress:updated', () => true, 10_000);
    expect((await push(cb, 'checklist:toggle', { item_id: item.id, checked: true })).status).toBe('ok');
    expect(await ticked).toMatchObject({ item_id: item.id, checked: true });
    expect(await progressed).toMatchObject({ completed_items: 1, total_items: 12 });

    // Alice's socket closes while she holds the lock: the gateway's gateway.connection.closed makes
    // documents release it, and presence tells bob she left.
    const unlocked = nextEvent(cb, 'document:unlocked', (u) => u.document_id === 1, 15_000);
    sa.disconnect();
    expect(await unlocked).toMatchObject({ document_id: 1, user_id: alice.user.id });
    await expect.poll(() => metasOf(alice.user.id).length, { timeout: 15_000 }).toBe(0);

    // Every process created its durable consumers under its own user.
    const jsm = await jetstreamManager(stack.nats);
    const durables = async (stream: string) => {
      const names: string[] = [];
      for await (const c of jsm.consumers.list(stream)) if (c.config.durable_name) names.push(c.config.durable_name);
      return names.sort();
    };
    expect(await durables('EVENTS_DOCUMENTS')).toEqual([
      'chat-members',
      'chat-members-changes',
      'checklist-members',
      'checklist-members-changes',
      'presence-document-locks',
      'presence-members',
      'presence-members-changes',
    ]);
    expect(await durables('EVENTS_PRESENCE')).toEqual(['documents-presence-evictions']);

    // And none of it needed anything the permissions refuse.
    expect(serverViolations()).toEqual([]);
  });

  it('lets the gateway ask every subject it routes', async () => {
    const gateway = await connectAs('gateway');
    const seen = violationsOf(gateway);
    const routed = [
      ...Object.values(projectClientEvents).map((r) => r.subject),
      ...Object.values(presenceSubjects),
      ...SERVICES.flatMap((s) => [subjects.snapshot(s), subjects.health(s)]),
      MEMBERSHIP_SUBJECT,
      ...Object.values(adminProjectSubjects),
      PROJECTS_OF_USER_SUBJECT,
    ];
    const outcomes = await Promise.all(routed.map(async (subject) => [subject, await tryRequest(gateway, subject)] as const));
    expect(outcomes.filter(([, o]) => o === 'refused')).toEqual([]);
    gateway.publish(subjects.connectionClosed, JSON.stringify({ connection_id: 'c_permissions_test', user_id: 1, project_ids: [] }));
    await gateway.flush();
    expect(seen).toEqual([]);
  });

  it('refuses the gateway appending events, calling admin commands, serving commands or reading replies', async () => {
    const gateway = await connectAs('gateway');
    const seen = violationsOf(gateway);
    // A project of its own, so that "nothing reached the stream" can be told by subject.
    const forged = 'project.777.ev.chat.MessagePosted';
    gateway.publish(forged, JSON.stringify({ event_id: randomUUID(), type: 'MessagePosted', data: { text: 'forged' } }));
    await expect(
      jetstream(gateway).publish(forged, JSON.stringify({ forged: true }), { msgID: randomUUID(), timeout: 2_000 }),
    ).rejects.toThrow(/permissions violation/i);
    await expect.poll(() => seen).toContain(`publish ${forged}`);
    // Nor a forged fast copy, which a gateway would deliver without the relay (core NATS).
    const forgedFast = 'project.777.now.chat.MessagePosted';
    gateway.publish(forgedFast, JSON.stringify({ event_id: randomUUID(), type: 'MessagePosted', data: { text: 'forged' } }));
    await expect.poll(() => seen).toContain(`publish ${forgedFast}`);
    // Nothing reached the chat service's stream.
    const jsm = await jetstreamManager(stack.nats);
    expect(await jsm.streams.getMessage('EVENTS_CHAT', { last_by_subj: forged })).toBeNull();

    expect(await tryRequest(gateway, CREATE_PROJECT_SUBJECT)).toBe('refused');
    // Posing as the chat service (its queue group) to receive commands, or reading everyone's replies.
    for (const [subject, queue] of [
      ['chat.message.post', 'chat'],
      ['documents.>', undefined],
      ['_INBOX.>', undefined],
      ['_INBOX_chat.>', undefined],
    ] as const) {
      const end = await subscriptionEnd(gateway, subject, queue);
      expect(end, subject).toBeInstanceOf(PermissionViolationError);
      expect((end as PermissionViolationError).operation, subject).toBe('subscription');
    }
    expect(gateway.isClosed()).toBe(false);
  });

  it("refuses a service another service's commands, events, subjects and streams", async () => {
    const chat = await connectAs('chat');
    const seen = violationsOf(chat);

    // Another service's commands: neither asked nor served.
    expect(await tryRequest(chat, CREATE_PROJECT_SUBJECT)).toBe('refused');
    expect(await tryRequest(chat, 'documents.lock.acquire')).toBe('refused');
    chat.publish('documents.document.save', JSON.stringify({}));
    await expect.poll(() => seen).toContain('publish documents.document.save');
    // Nor another service's fast copies (core NATS, straight to the gateways).
    chat.publish('project.1.now.documents.ProjectMembershipChanged', JSON.stringify({ forged: true }));
    await expect.poll(() => seen).toContain('publish project.1.now.documents.ProjectMembershipChanged');
    for (const subject of ['documents.>', 'project.*.ev.documents.>', 'project.1.>', '_INBOX.>', '_INBOX_documents.>']) {
      const end = await subscriptionEnd(chat, subject);
      expect(end, subject).toBeInstanceOf(PermissionViolationError);
    }

    // Another service's events: no forging, not even through JetStream.
    await expect(
      jetstream(chat).publish('project.1.ev.documents.ProjectCreated', JSON.stringify({ forged: true }), { timeout: 2_000 }),
    ).rejects.toThrow(/permissions violation/i);

    // Streams: chat reads documents' events only through its own consumer with its own filter,
    // and may not remove anything, not even from its own stream.
    const admin = await jetstreamManager(stack.nats);
    const before = await admin.streams.info('EVENTS_CHAT');
    const jsm = await jetstreamManager(chat);
    const consumer = (durable_name: string, filter_subject: string) =>
      jsm.consumers.add('EVENTS_DOCUMENTS', { durable_name, filter_subject, ack_policy: AckPolicy.Explicit });
    await expect(consumer('chat-snoop', 'project.*.ev.documents.>')).rejects.toThrow(/permissions violation/i);
    await expect(consumer('chat-members', 'project.*.ev.documents.>')).rejects.toThrow(/permissions violation/i);
    await expect(jsm.streams.getMessage('EVENTS_DOCUMENTS', { seq: 1 })).rejects.toThrow(/permissions violation/i);
    await expect(jsm.streams.delete('EVENTS_CHAT')).rejects.toThrow(/permissions violation/i);
    await expect(jsm.streams.purge('EVENTS_CHAT')).rejects.toThrow(/permissions violation/i);
    // Nor create another service's stream (a consumer waits for its producer to create it).
    await expect(jsm.streams.add({ name: 'EVENTS_DOCUMENTS', subjects: ['project.*.ev.documents.>'] })).rejects.toThrow(
      /permissions violation/i,
    );
    await expect(jsm.streams.add({ name: 'EVENTS_SNOOP', subjects: ['project.*.ev.snoop.>'] })).rejects.toThrow(/permissions violation/i);
    const after = await admin.streams.info('EVENTS_CHAT');
    expect([after.created, after.state.messages, after.state.first_seq]).toEqual([
      before.created,
      before.state.messages,
      before.state.first_seq,
    ]);

    // Its own things still work on the same connection: its stream, its own consumer.
    expect((await jsm.streams.info('EVENTS_CHAT')).config.name).toBe('EVENTS_CHAT');
    expect((await jsm.consumers.info('EVENTS_DOCUMENTS', 'chat-members')).config.filter_subject).toBe(
      'project.*.ev.documents.ProjectCreated',
    );
    expect((await jsm.consumers.info('EVENTS_DOCUMENTS', 'chat-members-changes')).config.filter_subject).toBe(
      'project.*.ev.documents.ProjectMembershipChanged',
    );
    await expect(consumer('chat-members-changes', 'project.*.ev.documents.>')).rejects.toThrow(/permissions violation/i);
    expect(chat.isClosed()).toBe(false);

    // The server's log, on which the "none needed" check of the stack test relies, names them.
    expect(serverViolations().some((line) => line.includes('"chat"') && line.includes('documents.document.save'))).toBe(true);
  });
});
