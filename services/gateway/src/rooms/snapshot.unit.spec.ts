import { describe, expect, it } from 'vitest';
import { subjects, type CommandContext } from '@siteflow/contracts';
import { FakeNats } from '../test-fixtures/fakes.js';
import { OwnUnreadReads, readOwnUnread, readRoomSnapshot, withOwnUnread } from './snapshot.js';

const ctx: CommandContext = {
  user_id: 2,
  username: 'bob',
  role: 'customer',
  avatar_url: '/avatars/2.svg',
  connection_id: 'c-1',
  project_id: 7,
};

describe('readRoomSnapshot', () => {
  it('logs which service, whose join and which project when a snapshot part is malformed, and refuses with internal', async () => {
    const nats = new FakeNats();
    for (const service of ['documents', 'presence', 'chat', 'checklist'] as const) {
      nats.answer(subjects.snapshot(service), () => ({ ok: true, data: { part: 'not a snapshot' } }));
    }
    const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const logger = { error: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }) };

    const result = await readRoomSnapshot(nats.asConnection(), ctx, 1000, logger);

    expect(result).toEqual({ ok: false, error: { code: 'internal', message: 'documents snapshot is malformed' } });
    const documents = lines.find((l) => l.obj.service === 'documents');
    expect(documents?.msg).toMatch(/malformed snapshot part/);
    expect(documents?.obj).toMatchObject({ subject: subjects.snapshot('documents'), user: 2, connection: 'c-1', project: 7 });
    expect(lines).toHaveLength(4);
  });
});

describe('readOwnUnread: the joiner of a shared read asks chat for its own count only', () => {
  it('sends chat.snapshot with unread_only for the joiner and returns its count', async () => {
    const nats = new FakeNats();
    const asked: unknown[] = [];
    nats.answer(subjects.snapshot('chat'), (body) => {
      asked.push(body);
      return { ok: true, data: { part: { unread_count: 9 }, versions: {} } };
    });
    expect(await readOwnUnread(nats.asConnection(), ctx, 1000)).toEqual({ ok: true, unread: 9 });
    expect(asked).toEqual([{ ctx, payload: { unread_only: true } }]);
  });

  it('refuses with internal, naming whose join, when chat answers something else', async () => {
    const nats = new FakeNats();
    nats.answer(subjects.snapshot('chat'), () => ({ ok: true, data: { part: {}, versions: {} } }));
    const lines: Array<Record<string, unknown>> = [];
    const logger = { error: (obj: object) => lines.push(obj as Record<string, unknown>) };
    expect(await readOwnUnread(nats.asConnection(), ctx, 1000, logger)).toEqual({
      ok: false,
      error: { code: 'internal', message: 'chat unread count is malformed' },
    });
    expect(lines[0]).toMatchObject({ service: 'chat', user: 2, connection: 'c-1', project: 7 });
  });

  it('withOwnUnread changes only the chat unread count', () => {
    const room = {
      project: null,
      documents: [],
      checklist: { items: [], progress: { progress: 0, completed_items: 0, total_items: 0 } },
      chat: { messages: [], has_more: true, unread_count: 4 },
      members_last_seen: [],
    };
    expect(withOwnUnread(room, 1)).toEqual({ ...room, chat: { messages: [], has_more: true, unread_count: 1 } });
    expect(room.chat.unread_count).toBe(4);
  });
});

describe('snapshot requests are timed', () => {
  it('each part and the own unread count is observed by subject and outcome', async () => {
    const nats = new FakeNats();
    nats.answer(subjects.snapshot('documents'), () => ({ ok: true, data: { part: { project: null, documents: [] }, versions: {} } }));
    nats.answer(subjects.snapshot('presence'), () => ({ ok: true, data: { part: { state: {}, last_seen: [] }, versions: {} } }));
    nats.answer(subjects.snapshot('chat'), () => ({ ok: false, error: { code: 'unavailable', message: 'down' } }));
    nats.answer(subjects.snapshot('checklist'), () => ({
      ok: true,
      data: { part: { items: [], progress: { progress: 0, completed_items: 0, total_items: 0 } }, versions: {} },
    }));
    const seen: Array<[string, string]> = [];
    const timer = {
      observeRequest: (subject: string, outcome: string, seconds: number) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        seen.push([subject, outcome]);
      },
    };
    await readRoomSnapshot(nats.asConnection(), ctx, 1000, undefined, timer);
    await readOwnUnread(nats.asConnection(), ctx, 1000, undefined, timer);
    expect(seen.sort()).toEqual(
      [
        ['checklist.snapshot', 'ok'],
        ['chat.snapshot', 'unavailable'],
        ['chat.snapshot', 'unavailable'],
        ['documents.snapshot', 'ok'],
        ['presence.snapshot', 'ok'],
      ].sort(),
    );
  });
});

describe('OwnUnreadReads: the sharers of one turn ask chat together', () => {
  const of = (user_id: number, project_id = 7): CommandContext => ({ ...ctx, user_id, project_id, connection_id: `c-${user_id}` });

  it('one request per project for the joins of a turn, each given its own count; a non-member is refused', async () => {
    const nats = new FakeNats();
    const asked: Array<{ ctx: CommandContext; payload: { unread_of?: number[] } }> = [];
    nats.answer(subjects.snapshot('chat'), (body) => {
      const b = body as { ctx: CommandContext; payload: { unread_of?: number[] } };
      asked.push(b);
      const counts = Object.fromEntries((b.payload.unread_of ?? []).filter((u) => u !== 13).map((u) => [String(u), u * 10]));
      return { ok: true, data: { part: { unread_counts: counts }, versions: {} } };
    });
    const reads = new OwnUnreadReads(nats.asConnection());
    const results = await Promise.all([
      reads.read(of(2), 1000),
      reads.read(of(3), 1000),
      reads.read(of(3), 1000), // a second tab of the same user
      reads.read(of(13), 1000),
      reads.read(of(4, 8), 1000),
      reads.read(of(5, 8), 1000),
    ]);
    expect(results).toEqual([
      { ok: true, unread: 20 },
      { ok: true, unread: 30 },
      { ok: true, unread: 30 },
      { ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } },
      { ok: true, unread: 40 },
      { ok: true, unread: 50 },
    ]);
    expect(asked.map((a) => [a.ctx.project_id, a.payload.unread_of])).toEqual([
      [7, [2, 3, 13]],
      [8, [4, 5]],
    ]);
    expect(reads.stats).toEqual({ requests: 2, users: 5 });
  });

  it('a lone join asks for itself as before; a chat that does not know unread_of is asked one by one', async () => {
    const nats = new FakeNats();
    const asked: unknown[] = [];
    nats.answer(subjects.snapshot('chat'), (body) => {
      asked.push((body as { payload: unknown }).payload);
      // An older chat: ignores unread_of and answers the asker's own count.
      return { ok: true, data: { part: { unread_count: 1 }, versions: {} } };
    });
    const reads = new OwnUnreadReads(nats.asConnection());
    expect(await reads.read(of(2), 1000)).toEqual({ ok: true, unread: 1 });
    expect(asked).toEqual([{ unread_only: true }]);
    asked.length = 0;
    expect(await Promise.all([reads.read(of(2), 1000), reads.read(of(3), 1000)])).toEqual([
      { ok: true, unread: 1 },
      { ok: true, unread: 1 },
    ]);
    expect(asked).toEqual([{ unread_of: [2, 3] }, { unread_only: true }, { unread_only: true }]);
  });

  it('a failed request refuses every join of it with its error', async () => {
    const nats = new FakeNats();
    nats.answer(subjects.snapshot('chat'), () => ({ ok: false, error: { code: 'unavailable', message: 'chat is busy' } }));
    const reads = new OwnUnreadReads(nats.asConnection());
    const results = await Promise.all([reads.read(of(2), 1000), reads.read(of(3), 1000)]);
    expect(results).toEqual([
      { ok: false, error: { code: 'unavailable', message: 'chat is busy' } },
      { ok: false, error: { code: 'unavailable', message: 'chat is busy' } },
    ]);
  });
});
