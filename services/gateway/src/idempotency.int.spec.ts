import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { RoomSnapshot } from '@siteflow/contracts';
import { rawSocket, useStack, type RawSocket } from '@siteflow/testing';

/** A push's reply payload: the fields these tests read. */
type PushReply = { status: string; response: { id?: unknown; code?: string } };

/**
 * A client's retry after an error or a timeout must not run a command twice: pushes carry an
 * `idempotency_key` of the client's choosing, and a retry with it gets the first outcome.
 */
describe('idempotent commands', () => {
  // A short push timeout, so a stalled service is answered `unavailable` while its work is pending.
  const stack = useStack({ processEnv: { gateway: { PUSH_TIMEOUT_MS: '1500' } } });
  let pool: pg.Pool;
  const sockets: RawSocket[] = [];
  let seq = 0;
  const ref = () => String(++seq);

  const joined = async (username: string) => {
    const s = await rawSocket(stack().socketUrl, (await stack().devLogin(username)).token);
    sockets.push(s);
    const j = ref();
    s.send([j, j, 'project:1', 'phx_join', {}]);
    const reply = await s.next((f) => f[1] === j && f[3] === 'phx_reply', 30_000);
    expect((reply[4] as PushReply).status).toBe('ok');
    const push = async (event: string, payload: object, timeoutMs = 30_000) => {
      const r = ref();
      s.send([j, r, 'project:1', event, payload]);
      return (await s.next((f) => f[1] === r && f[3] === 'phx_reply', timeoutMs))[4] as PushReply;
    };
    return { s, push, snapshot: (reply[4] as { response: RoomSnapshot }).response };
  };
  const count = async (sql: string, params: unknown[]) => Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);
  const messagesWithText = (text: string) => count('SELECT count(*) AS n FROM chat.messages WHERE text = $1', [text]);

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 2 });
  });
  afterAll(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    await (pool as pg.Pool | undefined)?.end(); // unset when beforeAll failed
  });

  it('a retried chat message is stored and broadcast once, and the retry gets the first reply', async () => {
    const bob = await joined('bob');
    const carol = await joined('carol');
    const first = await bob.push('chat:message', { text: 'said once', idempotency_key: 'msg-0001-said-once' });
    expect(first.status).toBe('ok');
    const again = await bob.push('chat:message', { text: 'said once', idempotency_key: 'msg-0001-said-once' });
    expect(again).toEqual(first);
    // Ten at once from two sockets of the same user (a reconnecting client resending its queue).
    const bob2 = await joined('bob');
    const burst = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? bob : bob2).push('chat:message', { text: 'burst once', idempotency_key: 'msg-0002-burst' }),
      ),
    );
    expect(new Set(burst.map((r) => r.status))).toEqual(new Set(['ok']));
    expect(new Set(burst.map((r) => r.response.id)).size).toBe(1);
    expect(await messagesWithText('said once')).toBe(1);
    expect(await messagesWithText('burst once')).toBe(1);
    // A later post under a fresh key is a new message (keys, not texts, decide).
    expect((await bob.push('chat:message', { text: 'said once', idempotency_key: 'msg-0003-said-twice' })).status).toBe('ok');
    expect(await messagesWithText('said once')).toBe(2);
    await expect
      .poll(() => carol.s.frames.filter((f) => f[3] === 'chat:new_message' && (f[4] as { text?: unknown }).text === 'burst once').length, {
        timeout: 10_000,
      })
      .toBe(1);
    // Keys are per user: carol's key of the same name is hers.
    const hers = await carol.push('chat:message', { text: 'carol once', idempotency_key: 'msg-0001-said-once' });
    expect(hers.status).toBe('ok');
    expect(hers.response.id).not.toBe(first.response.id);
  });

  it('a push answered unavailable while the service was frozen ran once; its retry gets that outcome', async () => {
    const bob = await joined('bob');
    const pid = stack().process('chat').pid!;
    process.kill(pid, 'SIGSTOP');
    let timedOut: PushReply;
    try {
      timedOut = await bob.push('chat:message', { text: 'while frozen', idempotency_key: 'msg-0004-frozen' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(timedOut).toMatchObject({ status: 'error', response: { code: 'unavailable' } });
    // The frozen service still had the request: it is committed after all.
    await expect.poll(() => messagesWithText('while frozen'), { timeout: 30_000 }).toBe(1);
    const retry = await bob.push('chat:message', { text: 'while frozen', idempotency_key: 'msg-0004-frozen' });
    expect(retry.status).toBe('ok');
    expect(await messagesWithText('while frozen')).toBe(1);
  });

  it('a retried toggle and save change nothing twice, even when the state moved on meanwhile', async () => {
    const alice = await joined('alice');
    const bob = await joined('bob');
    const events = (type: string) => count('SELECT count(*) AS n FROM checklist.events WHERE type = $1', [type]);
    const toggledBefore = await events('ItemToggled');
    const on = await alice.push('checklist:toggle', { item_id: 4, checked: true, idempotency_key: 'toggle-4-on-0001' });
    expect(on.status).toBe('ok');
    expect((await bob.push('checklist:toggle', { item_id: 4, checked: false })).status).toBe('ok');
    // alice's retry does not switch it on again: it gets what her first toggle answered.
    expect(await alice.push('checklist:toggle', { item_id: 4, checked: true, idempotency_key: 'toggle-4-on-0001' })).toEqual(on);
    expect(await events('ItemToggled')).toBe(toggledBefore + 2);

    const documentId = alice.snapshot.documents[2]!.id;
    expect((await alice.push('document:start_editing', { document_id: documentId })).status).toBe('ok');
    const version = alice.snapshot.documents[2]!.version;
    const save = {
      document_id: documentId,
      content: `# saved once ${Date.now()}`,
      base_version: version,
      idempotency_key: 'save-doc-0001',
    };
    const saved = await alice.push('document:save', save);
    expect(saved).toMatchObject({ status: 'ok', response: { version: version + 1, saved: true } });
    expect(await alice.push('document:save', save)).toEqual(saved);
    expect(await count('SELECT count(*) AS n FROM documents.document_versions WHERE document_id = $1', [documentId])).toBe(version + 1);
    expect((await alice.push('document:stop_editing', { document_id: documentId })).status).toBe('ok');
  });

  it('refuses a malformed key, and a key reused for another command', async () => {
    const bob = await joined('bob');
    expect(await bob.push('chat:message', { text: 'x', idempotency_key: 'short' })).toMatchObject({
      status: 'error',
      response: { code: 'invalid_payload' },
    });
    expect(await bob.push('chat:message', { text: 'x', idempotency_key: 'no spaces allowed' })).toMatchObject({
      status: 'error',
      response: { code: 'invalid_payload' },
    });
    const posted = await bob.push('chat:message', { text: 'keyed', idempotency_key: 'msg-0005-keyed' });
    expect(posted.status).toBe('ok');
    const reused = await bob.push('chat:mark_read', { last_read_id: posted.response.id, idempotency_key: 'msg-0005-keyed' });
    expect(reused).toMatchObject({
      status: 'error',
      response: { code: 'invalid_payload', reason: expect.stringContaining('chat.message.post') as string },
    });
  });
});
