import { describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Socket } from 'phoenix';
import type { Progress, RoomSnapshot } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { assertOk, connectClient, joinChannel, nextEvent, push, recordEvents, useStack } from '@siteflow/testing';

/** The checklist end to end: stock phoenix clients → gateway → NATS → checklist service → Postgres → everyone. */
describe('checklist end to end', () => {
  const stack = useStack({ services: ['documents', 'presence', 'chat', 'checklist'] });

  const withPool = async <T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> => {
    const pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 1 });
    try {
      return await fn(pool);
    } finally {
      await pool.end();
    }
  };
  const dbProgress = () =>
    withPool(async (pool) => {
      const { rows } = await pool.query<{
        total: number;
        completed: number;
        percentage: string;
        progress_total: number;
        progress_completed: number;
      }>(
        `SELECT (SELECT count(*)::int FROM checklist.items WHERE project_id = 1) AS total,
                (SELECT count(*)::int FROM checklist.items WHERE project_id = 1 AND checked) AS completed,
                p.percentage, p.total_items AS progress_total, p.completed_items AS progress_completed
           FROM checklist.progress p WHERE p.project_id = 1`,
      );
      const r = rows[0]!;
      // The progress read model must agree with the items it summarises.
      expect([r.progress_total, r.progress_completed]).toEqual([r.total, r.completed]);
      return { progress: Number(r.percentage), completed_items: r.completed, total_items: r.total } satisfies Progress;
    });
  const sockets: Socket[] = [];
  const login = async (name: 'alice' | 'bob' | 'carol') => {
    const { token } = await stack().devLogin(name);
    const s = await connectClient(stack().socketUrl, token);
    sockets.push(s);
    const channel = s.channel('project:1', {});
    const snapshot = await joinChannel<RoomSnapshot>(channel);
    return { channel, snapshot };
  };
  const disconnectAll = () => sockets.splice(0).forEach((s) => s.disconnect());

  it('a new project gets the default template from ProjectCreated, before anyone joins', async () => {
    // The documents service seeds demo project 1; the checklist consumer reacts to its ProjectCreated.
    await expect
      .poll(
        () =>
          withPool(
            async (pool) =>
              (await pool.query<{ type: string }>("SELECT type FROM checklist.events WHERE stream_id = 'checklist-project-1'")).rows,
          ),
        { timeout: 10_000 },
      )
      .toEqual([{ type: 'ChecklistCreated' }]);
    const { snapshot } = await login('bob');
    try {
      expect(snapshot.checklist.items).toHaveLength(12);
      expect(snapshot.checklist.items.map((i) => i.order_index)).toEqual([...Array(12).keys()]);
      expect(snapshot.checklist.items.every((i) => !i.checked && i.checked_by === null)).toBe(true);
      expect(snapshot.checklist.progress).toEqual({ progress: 0, completed_items: 0, total_items: 12 });
    } finally {
      disconnectAll();
    }
  });

  it('a toggle reaches everyone as checklist:updated and progress:updated; the same value again creates no event', async () => {
    const a = await login('alice');
    const b = await login('bob');
    try {
      const item = a.snapshot.checklist.items[0]!;
      const updated = nextEvent(b.channel, 'checklist:updated');
      const progressed = nextEvent(b.channel, 'progress:updated');
      const reply = await push(a.channel, 'checklist:toggle', { item_id: item.id, checked: true });
      assertOk(reply);
      expect(reply.response.item).toMatchObject({ id: item.id, checked: true, checked_by: 1 });
      expect(reply.response.progress).toEqual({ progress: 8.3, completed_items: 1, total_items: 12 });
      expect(await updated).toMatchObject({ item_id: item.id, checked: true, updated_by: 'alice' });
      expect(await progressed).toEqual({ progress: 8.3, completed_items: 1, total_items: 12 });

      const count = () =>
        withPool(async (pool) => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM checklist.events')).rows[0]!.n);
      const before = await count();
      const seen = recordEvents(b.channel, 'checklist:updated');
      const again = await push(b.channel, 'checklist:toggle', { item_id: item.id, checked: true });
      assertOk(again);
      expect(again.response.item.checked_by).toBe(1);
      expect(await count()).toBe(before);
      // A no-op must not reach anyone: a real toggle after it is the next thing clients see.
      const item2 = a.snapshot.checklist.items[1]!;
      await push(a.channel, 'checklist:toggle', { item_id: item2.id, checked: true });
      await expect.poll(() => seen.events.length).toBe(1);
      expect(seen.events[0]).toMatchObject({ item_id: item2.id });
    } finally {
      disconnectAll();
    }
  });

  it('bad toggles and template edits get specific errors; an admin edits the template for everyone', async () => {
    const a = await login('alice');
    const c = await login('carol');
    try {
      expect((await push(c.channel, 'checklist:toggle', { item_id: 9999, checked: true })).response).toMatchObject({ code: 'not_found' });
      expect((await push(c.channel, 'checklist:toggle', { item_id: 1, checked: 'yes' })).response).toMatchObject({
        code: 'invalid_payload',
      });
      expect((await push(c.channel, 'checklist:add_item', { title: 'mine' })).response).toMatchObject({ code: 'forbidden' });
      expect((await push(a.channel, 'checklist:add_item', { title: '   ' })).response).toMatchObject({ code: 'invalid_payload' });
      expect((await push(a.channel, 'checklist:reorder', { item_ids: [1, 2] })).response).toMatchObject({ code: 'invalid_payload' });

      const changed = nextEvent(c.channel, 'checklist:changed');
      const added = await push(a.channel, 'checklist:add_item', { title: 'Sign the contract', order_index: 0 });
      assertOk(added);
      expect(added.response.items[0]).toMatchObject({ title: 'Sign the contract', order_index: 0, checked: false });
      expect((await changed).items).toEqual(added.response.items);

      const newId = added.response.items[0]!.id;
      const edited = await push(a.channel, 'checklist:edit_item', { item_id: newId, description: 'Both parties' });
      assertOk(edited);
      expect(edited.response.items[0]).toMatchObject({ id: newId, title: 'Sign the contract', description: 'Both parties' });
      const reversed = edited.response.items.map((i) => i.id).reverse();
      const reordered = await push(a.channel, 'checklist:reorder', { item_ids: reversed });
      assertOk(reordered);
      expect(reordered.response.items.map((i) => i.id)).toEqual(reversed);
      const removed = await push(a.channel, 'checklist:remove_item', { item_id: newId });
      assertOk(removed);
      expect(removed.response.items.map((i) => i.id)).not.toContain(newId);
      expect(removed.response.progress).toEqual(await dbProgress());
    } finally {
      disconnectAll();
    }
  });

  it('a project it never heard of (no ProjectCreated): the snapshot and every command are refused, and nothing is written', async () => {
    const ctx = { user_id: 2, username: 'bob', role: 'admin', avatar_url: '', connection_id: 'c-test', project_id: 77 };
    const streams = () =>
      withPool(async (pool) =>
        (
          await pool.query<{ type: string }>("SELECT type FROM checklist.events WHERE stream_id = 'checklist-project-77' ORDER BY version")
        ).rows.map((r) => r.type),
      );
    const refused = { ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } };
    expect(await requestService(stack().nats, 'checklist.snapshot', { ctx, payload: {} }, { timeoutMs: 10_000 })).toEqual(refused);
    expect(
      await requestService(stack().nats, 'checklist.item.toggle', { ctx, payload: { item_id: 3, checked: true } }, { timeoutMs: 10_000 }),
    ).toEqual(refused);
    expect(await requestService(stack().nats, 'checklist.item.add', { ctx, payload: { title: 'x' } }, { timeoutMs: 10_000 })).toEqual(
      refused,
    );
    expect(await streams()).toEqual([]);
  });

  it('5 clients toggle 40 items concurrently in random order: every client ends on the database progress', async () => {
    const clients = [await login('alice'), await login('bob'), await login('carol'), await login('alice'), await login('bob')];
    try {
      const admin = clients[0]!;
      let items = admin.snapshot.checklist.items;
      while (items.length < 40) {
        const r = await push(admin.channel, 'checklist:add_item', { title: `extra ${items.length + 1}` });
        assertOk(r);
        items = r.response.items;
      }
      const last = clients.map(() => null as Progress | null);
      clients.forEach((c, i) => c.channel.on('progress:updated', (p: Progress) => void (last[i] = p)));

      const shuffled = <T>(xs: T[]) =>
        xs
          .map((x) => [Math.random(), x] as const)
          .sort((p, q) => p[0] - q[0])
          .map(([, x]) => x);
      const replies = await Promise.all(
        clients.map((c) =>
          Promise.all(
            shuffled(items).map((item) => push(c.channel, 'checklist:toggle', { item_id: item.id, checked: Math.random() < 0.6 }, 20_000)),
          ),
        ),
      );
      expect(replies.flat().map((r) => r.status)).toEqual(Array(200).fill('ok'));

      const expected = await dbProgress();
      expect(expected.total_items).toBe(40);
      await expect.poll(() => last, { timeout: 10_000 }).toEqual(Array(5).fill(expected));
      // The join snapshot agrees with what the clients were told.
      const late = await login('carol');
      expect(late.snapshot.checklist.progress).toEqual(expected);
      expect(late.snapshot.checklist.items.filter((i) => i.checked)).toHaveLength(expected.completed_items);
    } finally {
      disconnectAll();
    }
  });
});
