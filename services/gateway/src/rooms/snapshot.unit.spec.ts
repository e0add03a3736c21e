import { describe, expect, it } from 'vitest';
import { subjects, type CommandContext } from '@siteflow/contracts';
import { FakeNats } from '../test-fixtures/fakes.js';
import { readOwnUnread, readRoomSnapshot, withOwnUnread } from './snapshot.js';

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
