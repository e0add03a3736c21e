import { describe, expect, it } from 'vitest';
import { subjects, type CommandContext } from '@siteflow/contracts';
import { FakeNats } from '../test-fixtures/fakes.js';
import { readRoomSnapshot } from './snapshot.js';

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
