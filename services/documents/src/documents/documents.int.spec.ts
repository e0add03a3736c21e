import { describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Socket } from 'phoenix';
import { DOCUMENT_MAX_BYTES, type RoomSnapshot } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { assertOk, connectClient, joinChannel, nextEvent, push, useStack } from '@siteflow/testing';

const LEASE_MS = 2000;
const IDLE_CAP_MS = 4000;

/** Saves, versions, lease expiry and crash durability, end to end with short lock timings. */
describe('documents: saves, versions, leases', () => {
  const stack = useStack({ env: { LOCK_LEASE_MS: String(LEASE_MS), LOCK_IDLE_CAP_MS: String(IDLE_CAP_MS), LOCK_SWEEP_MS: '100' } });
  const sockets: Socket[] = [];
  const connect = async (who: 'alice' | 'bob' | 'carol') => {
    const { token, user } = await stack().devLogin(who);
    const socket = await connectClient(stack().socketUrl, token);
    sockets.push(socket);
    const channel = socket.channel('project:1', {});
    const snapshot = await joinChannel<RoomSnapshot>(channel);
    return { socket, channel, snapshot, user };
  };
  const closeAll = () => {
    for (const s of sockets.splice(0)) s.disconnect();
  };
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]) => {
    const pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 1 });
    try {
      return (await pool.query<R>(sql, params)).rows;
    } finally {
      await pool.end();
    }
  };

  it('only the holder saves; stale base is a conflict; auto-save of unchanged text is no version; restore is a new version', async () => {
    const bob = await connect('bob');
    const carol = await connect('carol');
    expect((await push(bob.channel, 'document:start_editing', { document_id: 5 })).status).toBe('ok');

    const foreign = await push(carol.channel, 'document:save', { document_id: 5, content: 'carol was here', base_version: 1 });
    expect(foreign).toMatchObject({
      status: 'error',
      response: { code: 'not_lock_holder', reason: expect.stringContaining('bob is editing it') as string },
    });

    const updated = nextEvent(carol.channel, 'document:updated', (p: { version: number }) => p.version === 2);
    const v2 = await push(bob.channel, 'document:save', { document_id: 5, content: '# Timeline\n\nWeek 1: kickoff', base_version: 1 });
    expect(v2).toMatchObject({ status: 'ok', response: { document_id: 5, version: 2, saved: true } });
    expect(await updated).toMatchObject({
      document_id: 5,
      version: 2,
      updated_by: 'bob',
      updated_by_id: bob.user.id,
      content: '# Timeline\n\nWeek 1: kickoff',
    });
    // The content is stored once, in the event's data: the broadcast names it, the gateway fills it in.
    const [savedEvent] = await query<{ data: { content: string }; broadcast: { payload: object; payload_from_data: object } }>(
      `SELECT data, broadcast FROM documents.events WHERE stream_id = 'document-5' AND type = 'DocumentSaved' AND (data->>'version')::int = 2`,
      [],
    );
    expect(savedEvent?.data.content).toBe('# Timeline\n\nWeek 1: kickoff');
    expect(savedEvent?.broadcast.payload).not.toHaveProperty('content');
    expect(savedEvent?.broadcast.payload_from_data).toEqual({ content: 'content' });

    const stale = await push(bob.channel, 'document:save', { document_id: 5, content: 'based on v1', base_version: 1 });
    expect(stale).toMatchObject({ status: 'error', response: { code: 'version_conflict', details: { current_version: 2 } } });

    const same = await push(bob.channel, 'document:auto_save', {
      document_id: 5,
      content: '# Timeline\n\nWeek 1: kickoff',
      base_version: 2,
    });
    expect(same).toMatchObject({ status: 'ok', response: { version: 2, saved: false } });
    const v3 = await push(bob.channel, 'document:auto_save', {
      document_id: 5,
      content: '# Timeline\n\nWeek 1: kickoff\nWeek 2: design',
      base_version: 2,
    });
    expect(v3).toMatchObject({ status: 'ok', response: { version: 3, saved: true } });

    const tooBig = await push(bob.channel, 'document:save', {
      document_id: 5,
      content: 'a'.repeat(DOCUMENT_MAX_BYTES + 1),
      base_version: 3,
    });
    expect(tooBig).toMatchObject({ status: 'error', response: { code: 'payload_too_large' } });
    const tooManyBytes = await push(bob.channel, 'document:save', {
      document_id: 5,
      content: 'å'.repeat(DOCUMENT_MAX_BYTES / 2 + 1),
      base_version: 3,
    });
    expect(tooManyBytes).toMatchObject({ status: 'error', response: { code: 'payload_too_large' } });

    const history = await push(carol.channel, 'document:history', { document_id: 5 });
    assertOk(history);
    expect(history.response.versions.map((v) => [v.version, v.saved_by_name])).toEqual([
      [3, 'bob'],
      [2, 'bob'],
      [1, null],
    ]);
    const page = await push(carol.channel, 'document:history', { document_id: 5, before: 3, limit: 1 });
    expect(page.response).toMatchObject({ versions: [{ version: 2 }], has_more: true });
    const v1 = await push(carol.channel, 'document:get_version', { document_id: 5, version: 1 });
    assertOk(v1);
    expect(v1.response).toMatchObject({ version: 1, content: expect.stringContaining('# Timeline') as string });
    expect((await push(carol.channel, 'document:get_version', { document_id: 5, version: 42 })).response).toMatchObject({
      code: 'not_found',
    });

    expect((await push(carol.channel, 'document:restore', { document_id: 5, version: 1 })).response).toMatchObject({
      code: 'not_lock_holder',
    });
    const restoredSeen = nextEvent(carol.channel, 'document:updated', (p) => p.version === 4);
    const restored = await push(bob.channel, 'document:restore', { document_id: 5, version: 1 });
    expect(restored).toMatchObject({ status: 'ok', response: { version: 4, restored_from: 1, content: v1.response.content } });
    expect(await restoredSeen).toMatchObject({ version: 4, content: v1.response.content });
    const current = await push(carol.channel, 'document:get', { document_id: 5 });
    expect(current.response).toMatchObject({ version: 4, content: v1.response.content, last_edited_by: bob.user.id });
    // Nothing was overwritten: every version is still there.
    const stored = await query<{ version: number }>(
      'SELECT version FROM documents.document_versions WHERE document_id = 5 ORDER BY version',
      [],
    );
    expect(stored.map((r) => r.version)).toEqual([1, 2, 3, 4]);

    // Escapes double in JSON (the content is in its event once). On a server whose max_payload is
    // below that the save is refused before anything is stored, as an event the relay cannot
    // publish would stall it; where it fits (our own nats-server allows 4 MB, Debian's default 1 MB)
    // it is saved and read back intact.
    const quotes = '"'.repeat(300 * 1024);
    const eventBytes = JSON.stringify(quotes).length;
    const big = await push(bob.channel, 'document:save', { document_id: 5, content: quotes, base_version: 4 });
    if (eventBytes > stack().nats.info!.max_payload) {
      expect(big).toMatchObject({
        status: 'error',
        response: { code: 'payload_too_large', reason: expect.stringContaining('too large to publish') as string },
      });
      expect((await push(carol.channel, 'document:get', { document_id: 5 })).response).toMatchObject({ version: 4 });
    } else {
      expect(big).toMatchObject({ status: 'ok', response: { version: 5, saved: true } });
      expect((await push(carol.channel, 'document:get', { document_id: 5 })).response).toMatchObject({ version: 5, content: quotes });
    }
    closeAll();
  });

  it('heartbeats keep a lock; without them the lease lapses and the sweep releases it (expired)', async () => {
    const bob = await connect('bob');
    const carol = await connect('carol');
    expect((await push(bob.channel, 'document:start_editing', { document_id: 6 })).status).toBe('ok');
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, LEASE_MS / 2));
      const hb = await push(bob.channel, 'document:heartbeat', { document_id: 6 });
      expect(hb).toMatchObject({ status: 'ok', response: { lock_renewed: true } });
    }
    // 1.5 leases after the acquire, the lock still stands thanks to the heartbeats.
    expect((await push(carol.channel, 'document:start_editing', { document_id: 6 })).response).toMatchObject({ code: 'locked' });
    const unlocked = await nextEvent(carol.channel, 'document:unlocked', (p: { document_id: number }) => p.document_id === 6, LEASE_MS * 3);
    expect(unlocked).toEqual({ document_id: 6, user_id: bob.user.id, reason: 'expired' });
    expect((await push(bob.channel, 'document:heartbeat', { document_id: 6 })).response).toMatchObject({ code: 'not_lock_holder' });
    expect((await push(carol.channel, 'document:start_editing', { document_id: 6 })).status).toBe('ok');
    closeAll();
  });

  it('heartbeats alone do not hold a lock past the idle cap after the last save', async () => {
    const bob = await connect('bob');
    const acquired = await push(bob.channel, 'document:start_editing', { document_id: 7 });
    assertOk(acquired);
    const cap = Date.parse(acquired.response.locked_at) + IDLE_CAP_MS;
    const unlocked = nextEvent(bob.channel, 'document:unlocked', (p) => p.document_id === 7, IDLE_CAP_MS * 3);
    // Set by the `unlocked` callback while the loop awaits, which narrowing cannot see.
    let lapsed = false as boolean;
    void unlocked.then(
      () => (lapsed = true),
      () => undefined,
    );
    while (!lapsed) {
      const hb = await push(bob.channel, 'document:heartbeat', { document_id: 7 });
      if (hb.status !== 'ok') break;
      expect(Date.parse(hb.response.expires_at)).toBeLessThanOrEqual(cap);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await unlocked).toEqual({ document_id: 7, user_id: bob.user.id, reason: 'expired' });
    closeAll();
  });

  it('every acknowledged save is in the event store after kill -9 of the documents service', async () => {
    const bob = await connect('bob');
    const documents = [8, 9];
    for (const id of documents) expect((await push(bob.channel, 'document:start_editing', { document_id: id })).status).toBe('ok');
    const acked: Array<{ documentId: number; version: number; content: string }> = [];
    // Assigned inside saveLoop, which narrowing cannot see.
    let killed = null as Promise<void> | null;
    // Two documents saved in parallel, so the crash lands while saves are in flight.
    const saveLoop = async (documentId: number) => {
      let base = 1;
      for (let i = 0; i < 200; i++) {
        const content = `# Document ${documentId}\n\nsave ${i}`;
        const r = await push(bob.channel, 'document:save', { document_id: documentId, content, base_version: base }, 30_000);
        if (r.status !== 'ok') {
          expect(r.response).toMatchObject({ code: 'unavailable' });
          return;
        }
        acked.push({ documentId, version: r.response.version, content });
        base = r.response.version;
        if (acked.length === 10) killed = stack().kill('documents', 'SIGKILL');
      }
    };
    await Promise.all(documents.map(saveLoop));
    await killed;
    expect(acked.length).toBeGreaterThanOrEqual(10);
    await stack().start('documents');

    const stored = await query<{ documentId: number; version: number; content: string }>(
      `SELECT (data->>'document_id')::int AS "documentId", (data->>'version')::int AS version, data->>'content' AS content
         FROM documents.events WHERE stream_id IN ('document-8', 'document-9') AND type = 'DocumentSaved'`,
      [],
    );
    for (const a of acked) expect(stored).toContainEqual(a);
    console.info(`kill -9: ${acked.length} saves acknowledged, ${stored.length} stored, all acknowledged ones present`);
    const carol = await connect('carol');
    for (const id of documents) {
      const last = acked.filter((a) => a.documentId === id).at(-1);
      if (!last) continue;
      const doc = await push(carol.channel, 'document:get', { document_id: id });
      assertOk(doc);
      expect(doc.response.version).toBeGreaterThanOrEqual(last.version);
      const v = await push(carol.channel, 'document:get_version', { document_id: id, version: last.version });
      assertOk(v);
      expect(v.response.content).toBe(last.content);
    }
    closeAll();
  });

  it('admins set the project status and name; customers may not', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    expect((await push(bob.channel, 'project:set_status', { status: 'completed' })).response).toMatchObject({ code: 'forbidden' });
    const change = nextEvent(bob.channel, 'project:status_change');
    const set = await push(alice.channel, 'project:set_status', { status: 'in_progress' });
    expect(set).toMatchObject({ status: 'ok', response: { status: 'in_progress' } });
    expect(await change).toMatchObject({ project_id: 1, status: 'in_progress', previous_status: 'planning', changed_by: 'alice' });
    const renamed = nextEvent(bob.channel, 'project:updated');
    expect((await push(alice.channel, 'project:update', { name: 'Demo webshop' })).status).toBe('ok');
    expect(await renamed).toMatchObject({ id: 1, name: 'Demo webshop', status: 'in_progress' });
    expect((await push(bob.channel, 'project:update', { name: 'Mine' })).response).toMatchObject({ code: 'forbidden' });
    const again = await connect('carol');
    expect(again.snapshot.project).toMatchObject({ name: 'Demo webshop', status: 'in_progress' });
    closeAll();
  });

  it('an admin creates a project with its members and 9 documents; non-members cannot join it', async () => {
    const members = [
      { user_id: 1, username: 'alice', role: 'admin' as const, avatar_url: '/avatars/alice.svg' },
      { user_id: 2, username: 'bob', role: 'customer' as const, avatar_url: '/avatars/bob.svg' },
    ];
    const ctx = (user_id: number, username: string, role: 'admin' | 'customer') => ({
      user_id,
      username,
      role,
      avatar_url: `/avatars/${username}.svg`,
      connection_id: 'tool',
      project_id: 2,
    });
    const payload = { project_id: 2, name: 'Second project', members };
    const refused = await requestService(
      stack().nats,
      'documents.project.create',
      { ctx: ctx(2, 'bob', 'customer'), payload },
      { timeoutMs: 5000 },
    );
    expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const created = await requestService(
      stack().nats,
      'documents.project.create',
      { ctx: ctx(1, 'alice', 'admin'), payload },
      { timeoutMs: 5000 },
    );
    expect(created).toMatchObject({ ok: true, data: { project: { id: 2, name: 'Second project', status: 'planning' } } });
    const twice = await requestService(
      stack().nats,
      'documents.project.create',
      { ctx: ctx(1, 'alice', 'admin'), payload },
      { timeoutMs: 5000 },
    );
    expect(twice).toMatchObject({ ok: false, error: { code: 'already_exists' } });

    const { token } = await stack().devLogin('bob');
    const socket = await connectClient(stack().socketUrl, token);
    sockets.push(socket);
    const snapshot = await joinChannel<RoomSnapshot>(socket.channel('project:2', {}));
    expect(snapshot.documents.map((d) => d.id)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18]);
    expect(snapshot.documents.every((d) => d.version === 1 && d.created_by === 1 && d.lock === null)).toBe(true);
    const carol = await stack().devLogin('carol');
    const carolSocket = await connectClient(stack().socketUrl, carol.token);
    sockets.push(carolSocket);
    await expect(joinChannel(carolSocket.channel('project:2', {}))).rejects.toMatchObject({ code: 'unauthorized' });
    closeAll();
  });
});
