import { describe, expect, it } from 'vitest';
import { MEMBERSHIP_SUBJECT, type CommandContext } from '@siteflow/contracts';
import { FakeNats } from '../test-fixtures/fakes.js';
import { MembershipReads } from './membership-reads.js';
import { TurnBatch } from './turn-batch.js';

const of = (user_id: number, project_id = 7): CommandContext => ({
  user_id,
  username: `u${user_id}`,
  role: 'customer',
  avatar_url: '',
  connection_id: `c-${user_id}`,
  project_id,
});

describe('MembershipReads: the joins of one turn ask documents together', () => {
  it('one request per project, each join given its own role; a non-member is refused unauthorized', async () => {
    const nats = new FakeNats();
    const asked: Array<{ project: number; payload: unknown }> = [];
    nats.answer(MEMBERSHIP_SUBJECT, (body) => {
      const b = body as { ctx: CommandContext; payload: { users?: number[] } };
      asked.push({ project: b.ctx.project_id, payload: b.payload });
      const roles = Object.fromEntries(
        (b.payload.users ?? []).filter((u) => u !== 13).map((u) => [String(u), u === 2 ? 'admin' : 'customer']),
      );
      return { ok: true, data: { roles } };
    });
    const reads = new MembershipReads(nats.asConnection());
    const results = await Promise.all([
      reads.read(of(2), 1000),
      reads.read(of(3), 1000),
      reads.read(of(13), 1000),
      reads.read(of(4, 8), 1000),
      reads.read(of(5, 8), 1000),
    ]);
    expect(results).toEqual([
      { ok: true, role: 'admin' },
      { ok: true, role: 'customer' },
      { ok: false, error: { code: 'unauthorized', message: 'you are not a member of this project' } },
      { ok: true, role: 'customer' },
      { ok: true, role: 'customer' },
    ]);
    expect(asked).toEqual([
      { project: 7, payload: { users: [2, 3, 13] } },
      { project: 8, payload: { users: [4, 5] } },
    ]);
  });

  it('a lone join asks for itself; a documents that does not know users is asked one by one; a failure refuses all', async () => {
    const nats = new FakeNats();
    const asked: unknown[] = [];
    let fail = false;
    nats.answer(MEMBERSHIP_SUBJECT, (body) => {
      asked.push((body as { payload: unknown }).payload);
      if (fail) return { ok: false, error: { code: 'unavailable', message: 'documents is busy' } };
      return { ok: true, data: { role: 'customer' } }; // an older documents: the asker's role only
    });
    const reads = new MembershipReads(nats.asConnection());
    expect(await reads.read(of(2), 1000)).toEqual({ ok: true, role: 'customer' });
    expect(asked).toEqual([{}]);
    asked.length = 0;
    expect(await Promise.all([reads.read(of(2), 1000), reads.read(of(3), 1000)])).toEqual([
      { ok: true, role: 'customer' },
      { ok: true, role: 'customer' },
    ]);
    expect(asked).toEqual([{ users: [2, 3] }, {}, {}]);
    fail = true;
    expect(await Promise.all([reads.read(of(2), 1000), reads.read(of(3), 1000)])).toEqual([
      { ok: false, error: { code: 'unavailable', message: 'documents is busy' } },
      { ok: false, error: { code: 'unavailable', message: 'documents is busy' } },
    ]);
  });
});

describe('TurnBatch', () => {
  it('groups by key within a turn, sends a full group at once, and never holds anything past the turn', async () => {
    const sent: Array<[number, number[]]> = [];
    const batch = new TurnBatch<number, number>(3, (key, items) => {
      sent.push([key, items]);
      return Promise.resolve(items.map((i) => i * 10));
    });
    const outs = await Promise.all([batch.add(1, 1), batch.add(1, 2), batch.add(2, 3), batch.add(1, 4), batch.add(1, 5)]);
    expect(outs).toEqual([10, 20, 30, 40, 50]);
    // Key 1 reached 3 items and went at once; the rest at the end of the turn.
    expect(sent).toEqual([
      [1, [1, 2, 4]],
      [2, [3]],
      [1, [5]],
    ]);
    // A later turn starts afresh.
    expect(await batch.add(1, 6)).toBe(60);
    expect(sent.at(-1)).toEqual([1, [6]]);
  });
});
