import type { ChatMessage, RoomSnapshot } from '@siteflow/contracts';
import { describe, expect, it } from 'vitest';
import { reduceRoom, type RoomAction, type RoomState } from './roomState.js';

const t0 = '2025-01-01T10:00:00.000Z';
const msg = (n: number): ChatMessage => ({
  id: `m_0190d5a0-0000-7000-8000-${String(n).padStart(12, '0')}`,
  text: `message ${n}`,
  user_id: 2,
  username: 'bob',
  avatar_url: '',
  timestamp: t0,
});

const snapshot = (over: Partial<RoomSnapshot> = {}): RoomSnapshot => ({
  project: { id: 1, name: 'Demo project', status: 'planning', members: [], created_at: t0, updated_at: t0 },
  documents: [
    {
      id: 10,
      project_id: 1,
      document_type: 'technical_spec',
      title: 'Technical specification',
      version: 3,
      created_by: 1,
      last_edited_by: 1,
      created_at: t0,
      updated_at: t0,
      lock: null,
    },
  ],
  checklist: {
    items: [
      { id: 2, title: 'Second', description: null, order_index: 1, checked: false, checked_by: null, checked_at: null },
      { id: 1, title: 'First', description: null, order_index: 0, checked: false, checked_by: null, checked_at: null },
    ],
    progress: { progress: 0, completed_items: 0, total_items: 2 },
  },
  chat: { messages: [msg(1), msg(2)], has_more: false, unread_count: 0 },
  members_last_seen: [],
  ...over,
});

const run = (...actions: RoomAction[]) => actions.reduce<RoomState | null>(reduceRoom, null);

describe('reduceRoom', () => {
  it('ignores broadcasts before the first snapshot', () => {
    expect(run({ type: 'chat:new_message', payload: msg(1) })).toBeNull();
  });

  it('shows chat in snapshot order and checklist in order', () => {
    const room = run({ type: 'snapshot', snapshot: snapshot() });
    expect(room?.chat.messages.map((m) => m.text)).toEqual(['message 1', 'message 2']);
    expect(room?.checklist.items.map((i) => i.title)).toEqual(['First', 'Second']);
  });

  it('appends new messages once', () => {
    const room = run(
      { type: 'snapshot', snapshot: snapshot() },
      { type: 'chat:sent', message: msg(3) },
      { type: 'chat:new_message', payload: msg(3) },
      { type: 'chat:new_message', payload: msg(3) },
    );
    expect(room?.chat.messages.map((m) => m.text)).toEqual(['message 1', 'message 2', 'message 3']);
    expect(room?.chat.unconfirmed).toEqual([]);
  });

  it('puts an older page before the messages shown', () => {
    const room = run(
      { type: 'snapshot', snapshot: snapshot({ chat: { messages: [msg(5), msg(6)], has_more: true, unread_count: 0 } }) },
      { type: 'chat:history_loaded', reply: { messages: [msg(3), msg(4)], has_more: false } },
    );
    expect(room?.chat.messages.map((m) => m.text)).toEqual([3, 4, 5, 6].map((n) => `message ${n}`));
    expect(room?.chat.has_more).toBe(false);
  });

  it('replaces the whole state on a rejoin', () => {
    const fresh = snapshot({ chat: { messages: [msg(7)], has_more: true, unread_count: 4 } });
    const room = run(
      { type: 'snapshot', snapshot: snapshot() },
      { type: 'chat:sent', message: msg(3) },
      { type: 'snapshot', snapshot: fresh },
    );
    expect(room?.chat).toEqual({ messages: [msg(7)], unconfirmed: [], has_more: true, unread_count: 4 });
  });

  it('tracks edit locks and ignores the unlock of an earlier holder', () => {
    const locked = run(
      { type: 'snapshot', snapshot: snapshot() },
      { type: 'document:locked', payload: { document_id: 10, user_id: 2, username: 'bob', locked_at: t0, expires_at: t0 } },
    );
    expect(locked?.documents[0]?.lock?.username).toBe('bob');
    const stale = reduceRoom(locked, { type: 'document:unlocked', payload: { document_id: 10, user_id: 1, reason: 'revoked' } });
    expect(stale).toBe(locked);
    const unlocked = reduceRoom(locked, { type: 'document:unlocked', payload: { document_id: 10, user_id: 2, reason: 'released' } });
    expect(unlocked?.documents[0]?.lock).toBeNull();
  });

  it('moves a document to a newer version only', () => {
    const base = run({ type: 'snapshot', snapshot: snapshot() });
    const updated = (version: number) =>
      reduceRoom(base, {
        type: 'document:updated',
        payload: { document_id: 10, version, updated_by: 'bob', updated_by_id: 2, updated_at: t0, content: 'x' },
      });
    expect(updated(3)).toBe(base);
    expect(updated(4)?.documents[0]).toMatchObject({ version: 4, last_edited_by: 2 });
  });

  it('follows checklist toggles and progress', () => {
    const room = run(
      { type: 'snapshot', snapshot: snapshot() },
      { type: 'checklist:updated', payload: { item_id: 1, checked: true, updated_by: 'bob', timestamp: t0 } },
      { type: 'progress:updated', payload: { progress: 50, completed_items: 1, total_items: 2 } },
    );
    expect(room?.checklist.items[0]).toMatchObject({ id: 1, checked: true, checked_at: t0 });
    expect(room?.checklist.progress.progress).toBe(50);
  });

  it('follows project status and metadata', () => {
    const room = run(
      { type: 'snapshot', snapshot: snapshot() },
      {
        type: 'project:status_change',
        payload: { project_id: 1, status: 'review', previous_status: 'planning', changed_by: 'alice', changed_at: t0 },
      },
      { type: 'project:updated', payload: { id: 1, name: 'Renamed', status: 'review', created_at: t0, updated_at: t0 } },
    );
    expect(room?.project).toMatchObject({ name: 'Renamed', status: 'review', members: [] });
    const other = reduceRoom(room, {
      type: 'project:status_change',
      payload: { project_id: 2, status: 'completed', previous_status: 'review', changed_by: 'alice', changed_at: t0 },
    });
    expect(other).toBe(room);
  });
});

describe('reduceRoom, own replies', () => {
  it('counts snapshots, so views know a rejoin happened', () => {
    const first = run({ type: 'snapshot', snapshot: snapshot() });
    expect(first?.epoch).toBe(1);
    expect(reduceRoom(first, { type: 'snapshot', snapshot: snapshot() })?.epoch).toBe(2);
  });

  it('applies my toggle from its reply and counts progress from the items shown', () => {
    const room = run(
      { type: 'snapshot', snapshot: snapshot() },
      // Someone else's toggle of item 2 overtook my reply; the reply's progress does not know it.
      { type: 'checklist:updated', payload: { item_id: 2, checked: true, updated_by: 'bob', timestamp: t0 } },
      {
        type: 'checklist:toggled',
        reply: {
          item: { id: 1, title: 'First', description: null, order_index: 0, checked: true, checked_by: 1, checked_at: t0 },
          progress: { progress: 50, completed_items: 1, total_items: 2 },
        },
      },
    );
    expect(room?.checklist.items.map((i) => i.checked)).toEqual([true, true]);
    expect(room?.checklist.progress).toEqual({ progress: 100, completed_items: 2, total_items: 2 });
  });

  it('takes the unread count from my mark-read reply and the status I set', () => {
    const room = run(
      { type: 'snapshot', snapshot: snapshot({ chat: { messages: [msg(1)], has_more: false, unread_count: 3 } }) },
      { type: 'chat:read', unread_count: 0 },
      { type: 'project:status_set', status: 'in_progress' },
    );
    expect(room?.chat.unread_count).toBe(0);
    expect(room?.project?.status).toBe('in_progress');
  });
});
