import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { SignJWT } from 'jose';
import type { RoomSnapshot } from '@siteflow/contracts';
import { rawSocket, REPO_ROOT, useStack, type RawSocket } from '@siteflow/testing';

/**
 * The projects API against the running system: who may call it (bearer token, scope
 * `projects:admin`), every refusal as `{code, message}`, and membership changes reaching open
 * sockets, presence, locks and chat.
 */
/** A JSON answer of the API: the fields these tests read. */
type ApiBody = { code: string; message: string; id: number; projects: Array<{ id: number }> };

describe('projects API', () => {
  const stack = useStack();
  let pool: pg.Pool;
  const sockets: RawSocket[] = [];
  let seq = 0;
  const ref = () => String(++seq);

  const mint = (
    claims: { sub: string; username: string; role?: string; scope?: string },
    opts: { secret?: string; expiresIn?: string | number } = {},
  ) =>
    new SignJWT({ role: 'customer', ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime(opts.expiresIn ?? '1h')
      .sign(new TextEncoder().encode(opts.secret ?? stack().jwtSecret));

  /** Siteflow's backend: a service identity with the admin scope. */
  let siteflow: string;
  const users = {
    dana: { id: 501, username: 'dana' },
    erik: { id: 502, username: 'erik' },
    fay: { id: 503, username: 'fay' },
  };
  const tokenOf: Record<string, string> = {};

  const api = async (method: string, path: string, opts: { token?: string | null; body?: unknown; rawBody?: string } = {}) => {
    const token = opts.token === undefined ? siteflow : opts.token;
    const res = await fetch(`${stack().gatewayUrl}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(opts.body !== undefined || opts.rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.rawBody !== undefined ? { body: opts.rawBody } : opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : (JSON.parse(text) as ApiBody) };
  };

  const open = async (token: string) => {
    const s = await rawSocket(stack().socketUrl, token);
    sockets.push(s);
    return s;
  };
  const replyTo = (s: RawSocket, r: string, timeoutMs = 15_000) => s.next((f) => f[1] === r && f[3] === 'phx_reply', timeoutMs);
  const join = async (s: RawSocket, topic: string) => {
    const r = ref();
    s.send([r, r, topic, 'phx_join', {}]);
    return { joinRef: r, reply: (await replyTo(s, r))[4] as { status: string; response: unknown } };
  };
  const pushOn = async (s: RawSocket, joinRef: string, topic: string, event: string, payload: unknown) => {
    const r = ref();
    s.send([joinRef, r, topic, event, payload]);
    return (await replyTo(s, r))[4] as { status: string; response: unknown };
  };

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 2 });
    siteflow = await mint({ sub: '900', username: 'siteflow', scope: 'openid projects:admin' });
    for (const [name, u] of Object.entries(users)) tokenOf[name] = await mint({ sub: String(u.id), username: u.username });
  });

  afterAll(async () => {
    for (const s of sockets) void s.close();
    await (pool as pg.Pool | undefined)?.end(); // unset when beforeAll failed
  });

  it('refuses a missing, malformed, forged or expired token (401) and a token without the scope (403)', async () => {
    const paths: Array<[string, string, unknown?]> = [
      ['GET', '/api/admin/projects'],
      ['POST', '/api/admin/projects', { name: 'x', members: [{ user_id: 1, username: 'a', role: 'admin' }] }],
      ['PATCH', '/api/admin/projects/1', { name: 'x' }],
      ['PUT', '/api/admin/projects/1/members/2', { username: 'b', role: 'customer' }],
      ['DELETE', '/api/admin/projects/1/members/2'],
    ];
    const forged = await mint(
      { sub: '900', username: 'siteflow', scope: 'projects:admin' },
      { secret: randomBytes(36).toString('base64url') },
    );
    const expired = await mint(
      { sub: '900', username: 'siteflow', scope: 'projects:admin' },
      { expiresIn: Math.floor(Date.now() / 1000) - 60 },
    );
    const noScope = await mint({ sub: '900', username: 'siteflow' });
    // A genuine token without the scope, its claims rewritten to add it and its signature kept.
    const [header, claims, signature] = noScope.split('.') as [string, string, string];
    const withScope = { ...(JSON.parse(Buffer.from(claims, 'base64url').toString()) as object), scope: 'projects:admin' };
    const tampered = [header, Buffer.from(JSON.stringify(withScope)).toString('base64url'), signature].join('.');
    const otherScope = await mint({ sub: '900', username: 'siteflow', scope: 'projects:read projects:administer' });
    for (const [method, path, body] of paths) {
      for (const token of [null, 'not-a-jwt', forged, tampered, expired]) {
        const res = await api(method, path, { token, body });
        expect([method, path, res.status, res.body?.code]).toEqual([method, path, 401, 'unauthorized']);
        expect(typeof res.body!.message).toBe('string');
      }
      for (const token of [noScope, otherScope]) {
        const res = await api(method, path, { token, body });
        expect([method, path, res.status, res.body?.code]).toEqual([method, path, 403, 'forbidden']);
      }
    }
    // A token whose header is not "Bearer …" is no token.
    const basic = await fetch(`${stack().gatewayUrl}/api/admin/projects`, { headers: { authorization: `Basic ${siteflow}` } });
    expect(basic.status).toBe(401);
    // GET /api/projects needs a valid token, but no scope.
    expect((await api('GET', '/api/projects', { token: null })).status).toBe(401);
    expect((await api('GET', '/api/projects', { token: expired })).status).toBe(401);
    expect((await api('GET', '/api/projects', { token: noScope })).status).toBe(200);
  });

  it('creates, renames, changes the status and the members; every refusal is {code, message}', async () => {
    const created = await api('POST', '/api/admin/projects', {
      body: {
        id: 7001,
        name: ' Webshop ',
        members: [
          { user_id: 501, username: 'dana', role: 'admin' },
          { user_id: 502, username: 'erik', role: 'customer' },
        ],
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 7001,
      name: 'Webshop',
      status: 'planning',
      members: [
        { user_id: 501, username: 'dana', role: 'admin', avatar_url: '/avatars/dana.svg' },
        { user_id: 502, username: 'erik', role: 'customer' },
      ],
    });
    // The 9 documents and the checklist, as for any project.
    const docs = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM documents.documents WHERE project_id = 7001');
    expect(docs.rows[0]!.n).toBe(9);
    await expect
      .poll(
        async () => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM checklist.items WHERE project_id = 7001')).rows[0]!.n,
        {
          timeout: 20_000,
        },
      )
      .toBeGreaterThan(0);

    // Without an id, the next free one.
    const fresh = await api('POST', '/api/admin/projects', {
      body: { name: 'No id', members: [{ user_id: 503, username: 'fay', role: 'admin' }] },
    });
    expect(fresh.status).toBe(201);
    expect(fresh.body!.id).toBeGreaterThan(7001);

    const refusals: Array<[string, string, { body?: unknown; rawBody?: string }, number, string]> = [
      [
        'POST',
        '/api/admin/projects',
        { body: { id: 7001, name: 'Again', members: [{ user_id: 501, username: 'dana', role: 'admin' }] } },
        409,
        'already_exists',
      ],
      ['POST', '/api/admin/projects', { body: { name: 'Nobody', members: [] } }, 400, 'invalid_payload'],
      [
        'POST',
        '/api/admin/projects',
        { body: { name: '', members: [{ user_id: 501, username: 'dana', role: 'admin' }] } },
        400,
        'invalid_payload',
      ],
      [
        'POST',
        '/api/admin/projects',
        { body: { name: 'Bad role', members: [{ user_id: 501, username: 'dana', role: 'owner' }] } },
        400,
        'invalid_payload',
      ],
      [
        'POST',
        '/api/admin/projects',
        { body: { name: 'Extra', extra: 1, members: [{ user_id: 501, username: 'dana', role: 'admin' }] } },
        400,
        'invalid_payload',
      ],
      ['POST', '/api/admin/projects', { rawBody: '{"name": ' }, 400, 'invalid_payload'],
      ['PATCH', '/api/admin/projects/7001', { body: {} }, 400, 'invalid_payload'],
      ['PATCH', '/api/admin/projects/7001', { body: { status: 'finished' } }, 400, 'invalid_payload'],
      ['PATCH', '/api/admin/projects/abc', { body: { name: 'x' } }, 400, 'invalid_payload'],
      ['PATCH', '/api/admin/projects/999999', { body: { name: 'x' } }, 404, 'not_found'],
      ['PUT', '/api/admin/projects/999999/members/503', { body: { username: 'fay', role: 'customer' } }, 404, 'not_found'],
      ['PUT', '/api/admin/projects/7001/members/0', { body: { username: 'fay', role: 'customer' } }, 400, 'invalid_payload'],
      ['PUT', '/api/admin/projects/7001/members/503', { body: { role: 'customer' } }, 400, 'invalid_payload'],
      ['DELETE', '/api/admin/projects/7001/members/503', {}, 404, 'not_found'],
      ['DELETE', '/api/admin/projects/999999/members/503', {}, 404, 'not_found'],
      // A project nobody could open: its state forbids it, not the caller's rights.
      ['DELETE', `/api/admin/projects/${String(fresh.body!.id)}/members/503`, {}, 409, 'last_member'],
    ];
    for (const [method, path, opts, status, code] of refusals) {
      const res = await api(method, path, opts);
      expect([method, path, JSON.stringify(opts), res.status, res.body?.code]).toEqual([method, path, JSON.stringify(opts), status, code]);
      expect(typeof res.body!.message).toBe('string');
    }

    const patched = await api('PATCH', '/api/admin/projects/7001', { body: { name: 'Webshop 2', status: 'in_progress' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: 7001, name: 'Webshop 2', status: 'in_progress' });

    const listed = await api('GET', '/api/admin/projects');
    expect(listed.status).toBe(200);
    expect(listed.body!.projects).toContainEqual(
      expect.objectContaining({ id: 7001, name: 'Webshop 2', status: 'in_progress', members: 2 }),
    );

    // The projects of a user, with their role in each.
    const ofErik = await api('GET', '/api/projects', { token: tokenOf.erik! });
    expect(ofErik.status).toBe(200);
    expect(ofErik.body!.projects).toEqual([
      expect.objectContaining({ id: 7001, name: 'Webshop 2', status: 'in_progress', role: 'customer' }),
    ]);
    expect((await api('GET', '/api/projects', { token: tokenOf.fay! })).body!.projects.map((p: { id: number }) => p.id)).toEqual([
      fresh.body!.id,
    ]);

    // Every change is an event on the project's stream.
    const { rows } = await pool.query<{ type: string }>(
      `SELECT type FROM documents.events WHERE stream_id = 'project-7001' ORDER BY version`,
    );
    expect(rows.map((r) => r.type)).toEqual(['ProjectCreated', 'ProjectRenamed', 'ProjectStatusChanged']);
  });

  it('a member removed while in the room is closed out of it, dropped from presence and loses their lock; one added joins at once and chats', async () => {
    // Far from 7001: the project created without an id took the next one.
    const created = await api('POST', '/api/admin/projects', {
      body: {
        id: 7100,
        name: 'Room',
        members: [
          { user_id: 501, username: 'dana', role: 'admin' },
          { user_id: 502, username: 'erik', role: 'customer' },
        ],
      },
    });
    expect(created.status).toBe(201);
    const topic = 'project:7100';
    const dana = await open(tokenOf.dana!);
    const danaJoin = await join(dana, topic);
    expect(danaJoin.reply).toMatchObject({ status: 'ok' });
    const erik = await open(tokenOf.erik!);
    const erikJoin = await join(erik, topic);
    expect(erikJoin.reply.status).toBe('ok');
    const snapshot = erikJoin.reply.response as RoomSnapshot;
    const documentId = snapshot.documents[0]!.id;
    expect((await pushOn(erik, erikJoin.joinRef, topic, 'document:start_editing', { document_id: documentId })).status).toBe('ok');
    // dana sees erik online.
    const presenceOf = (s: RawSocket) => {
      const online = new Set<string>();
      for (const f of s.frames) {
        if (f[2] !== topic) continue;
        if (f[3] === 'presence_state') for (const k of Object.keys(f[4] as object)) online.add(k);
        if (f[3] === 'presence_diff') {
          const d = f[4] as { joins: object; leaves: object };
          for (const k of Object.keys(d.joins)) online.add(k);
          for (const k of Object.keys(d.leaves)) online.delete(k);
        }
      }
      return online;
    };
    await expect.poll(() => presenceOf(dana).has('502'), { timeout: 15_000 }).toBe(true);

    // fay is no member: refused.
    const fay = await open(tokenOf.fay!);
    expect((await join(fay, topic)).reply).toMatchObject({ status: 'error', response: { code: 'unauthorized' } });

    // Removing erik: an error push, then phx_close; the lock is released; dana sees him leave.
    const removed = await api('DELETE', '/api/admin/projects/7100/members/502');
    expect(removed.status).toBe(204);
    expect(removed.body).toBeNull();
    const errorPush = await erik.next((f) => f[2] === topic && f[3] === 'error', 15_000);
    expect(errorPush[4]).toMatchObject({ code: 'unauthorized' });
    const close = await erik.next((f) => f[2] === topic && f[3] === 'phx_close', 15_000);
    expect(close[0]).toBe(erikJoin.joinRef);
    expect(erik.frames.indexOf(errorPush)).toBeLessThan(erik.frames.indexOf(close));
    const unlocked = await dana.next((f) => f[2] === topic && f[3] === 'document:unlocked', 15_000);
    expect(unlocked[4]).toMatchObject({ document_id: documentId, user_id: 502 });
    const lock = await pool.query<{ lock_user_id: number | null }>('SELECT lock_user_id FROM documents.documents WHERE id = $1', [
      documentId,
    ]);
    expect(lock.rows[0]!.lock_user_id).toBeNull();
    await expect.poll(() => presenceOf(dana).has('502'), { timeout: 15_000 }).toBe(false);
    // Out for good: his pushes and a new join are refused; the other socket stays open.
    expect((await pushOn(erik, erikJoin.joinRef, topic, 'chat:message', { text: 'still here?' })).status).toBe('error');
    expect((await join(erik, topic)).reply).toMatchObject({ status: 'error', response: { code: 'unauthorized' } });
    expect(erik.isOpen).toBe(true);
    expect((await api('GET', '/api/projects', { token: tokenOf.erik! })).body!.projects.map((p: { id: number }) => p.id)).toEqual([7001]);

    // Adding fay: she joins at once, chats, and dana receives it.
    const added = await api('PUT', '/api/admin/projects/7100/members/503', { body: { username: 'fay', role: 'customer' } });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ project_id: 7100, user_id: 503, username: 'fay', role: 'customer' });
    const fayJoin = await join(fay, topic);
    expect(fayJoin.reply.status).toBe('ok');
    const sent = await pushOn(fay, fayJoin.joinRef, topic, 'chat:message', { text: 'hello from fay' });
    expect(sent.status).toBe('ok');
    await dana.next((f) => f[2] === topic && f[3] === 'chat:new_message' && (f[4] as { text?: string }).text === 'hello from fay', 15_000);
    // She is counted for unread: dana's next message is one more for her, on her user topic. A
    // post's badges go to the members chat's own copy holds, which follows documents' events: her
    // first push may have been let in before it did (chat asks documents about a caller it does not
    // know yet), so dana posts once the copy has her (it missed once in a run of two files at once).
    await expect
      .poll(async () => (await pool.query('SELECT 1 FROM chat.members WHERE project_id = 7100 AND user_id = 503')).rowCount, {
        timeout: 15_000,
      })
      .toBe(1);
    expect((await join(fay, 'user:503')).reply.status).toBe('ok');
    const unreadAtJoin = (fayJoin.reply.response as RoomSnapshot).chat.unread_count;
    expect((await pushOn(dana, danaJoin.joinRef, topic, 'chat:message', { text: 'for fay' })).status).toBe('ok');
    const badge = await fay.next((f) => f[2] === 'user:503' && f[3] === 'chat:unread', 15_000);
    expect(badge[4]).toEqual({ project_id: 7100, count: unreadAtJoin + 1 });
    // And her role changes: 200 with the new role, as the projects list says.
    const promoted = await api('PUT', '/api/admin/projects/7100/members/503', { body: { username: 'fay', role: 'admin' } });
    expect(promoted.body).toMatchObject({ role: 'admin', changed: true });
    expect((await api('GET', '/api/projects', { token: tokenOf.fay! })).body!.projects).toContainEqual(
      expect.objectContaining({ id: 7100, role: 'admin' }),
    );

    // Every service follows the changes into its own copy of the members: erik is gone from each,
    // fay is in each with her latest role.
    const copies = async (userId: number) => {
      const roles: Record<string, string | null> = {};
      for (const table of ['documents.project_members', 'chat.members', 'checklist.project_members', 'presence.project_members']) {
        const { rows: found } = await pool.query<{ role: string }>(`SELECT role FROM ${table} WHERE project_id = 7100 AND user_id = $1`, [
          userId,
        ]);
        roles[table] = found[0]?.role ?? null;
      }
      return roles;
    };
    const everywhere = (role: string | null) => ({
      'documents.project_members': role,
      'chat.members': role,
      'checklist.project_members': role,
      'presence.project_members': role,
    });
    await expect.poll(() => copies(502), { timeout: 15_000 }).toEqual(everywhere(null));
    await expect.poll(() => copies(503), { timeout: 15_000 }).toEqual(everywhere('admin'));

    const { rows } = await pool.query<{ type: string; data: { change: string } }>(
      `SELECT type, data FROM documents.events WHERE stream_id = 'project-7100' ORDER BY version`,
    );
    expect(rows.map((r) => (r.type === 'ProjectMembershipChanged' ? r.data.change : r.type))).toEqual([
      'ProjectCreated',
      'removed',
      'added',
      'role_changed',
    ]);
  });

  it('npm run admin: the same API from the command line, with a development token from the dev key', async () => {
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['scripts/admin.mjs', ...args, '--url', stack().gatewayUrl], {
        cwd: REPO_ROOT,
        env: { ...process.env, JWT_SECRET: stack().jwtSecret, SITEFLOW_ADMIN_TOKEN: '' },
        timeout: 60_000,
      });
    expect((await run('create', '--id', '7200', '--name', 'From the CLI', '--member', '501:dana:admin')).stdout).toMatch(
      /created project 7200 "From the CLI" with 1 members/,
    );
    expect((await run('add-member', '7200', '502', 'erik', 'customer')).stdout).toMatch(/erik \(502\) is customer of project 7200/);
    expect((await run('list')).stdout).toMatch(/7200\s+planning\s+2 members\s+From the CLI/);
    expect((await run('remove-member', '7200', '502')).stdout).toMatch(/user 502 removed from project 7200/);
    expect((await run('update', '7200', '--status', 'review')).stdout).toMatch(/project 7200: "From the CLI", review/);
    // A refusal is the API's code and message, and a failing exit.
    await expect(run('remove-member', '7200', '502')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/404 not_found/) as string,
    });
    // A development token for a user: the gateway accepts it.
    const token = (await run('token', '--sub', '501', '--username', 'dana')).stdout.trim();
    const mine = await api('GET', '/api/projects', { token });
    expect(mine.body!.projects.map((p: { id: number }) => p.id)).toContain(7200);
    // Without the dev key, no token.
    await expect(
      promisify(execFile)(process.execPath, ['scripts/admin.mjs', 'token', '--sub', '1', '--username', 'x'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'admin-cli-')) },
        timeout: 30_000,
      }),
    ).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/no dev key/) as string });
  });
});
