import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { DEMO_USERS, projectClientEvents, subjects } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { useStack } from '@siteflow/testing';

const LEASE_MS = 1_500;

/**
 * The lock sweep releases each lapsed lock on its own: one document whose release fails (here a
 * trigger in the database refuses to clear its lock) is logged with its id and tried again next
 * round, and does not keep the others locked.
 */
describe('documents: lock expiry, one document at a time', () => {
  const stack = useStack({ services: ['documents'], gateway: false, env: { LOCK_LEASE_MS: String(LEASE_MS), LOCK_SWEEP_MS: '200' } });

  const withDb = async <T>(fn: (db: pg.Client) => Promise<T>): Promise<T> => {
    const db = new pg.Client({ connectionString: stack().databaseUrl });
    await db.connect();
    try {
      return await fn(db);
    } finally {
      await db.end();
    }
  };

  it('a document whose release fails does not hold back the others, and is released once it can be', async () => {
    const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
    const ctx = { user_id: bob.id, username: bob.username, role: bob.role, avatar_url: bob.avatar_url, connection_id: 'lock-expiry-test', project_id: 1 };
    const ids = await withDb(async (db) => (await db.query<{ id: string }>('SELECT id FROM documents.documents WHERE project_id = 1 ORDER BY id LIMIT 3')).rows.map((r) => Number(r.id)));
    expect(ids).toHaveLength(3);
    const [failing, ...others] = ids as [number, number, number];
    await withDb((db) =>
      db.query(`
        CREATE FUNCTION public.refuse_unlock() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'test: the release of document % fails', OLD.id; END $$;
        CREATE TRIGGER refuse_unlock BEFORE UPDATE ON documents.documents FOR EACH ROW
          WHEN (OLD.id = ${failing} AND OLD.lock_user_id IS NOT NULL AND NEW.lock_user_id IS NULL) EXECUTE FUNCTION public.refuse_unlock();`),
    );

    const released = new Map<number, string>();
    let onRelease = () => {};
    const sub = stack().nats.subscribe(subjects.projectEvent(1, 'documents', 'LockReleased'), {
      callback: (_err, m) => {
        const event = m.json<{ data: { document_id: number; reason: string } }>();
        released.set(event.data.document_id, event.data.reason);
        onRelease();
      },
    });
    const releasedAll = (wanted: number[], timeoutMs: number) =>
      new Promise<boolean>((resolve) => {
        const check = () => wanted.every((id) => released.has(id)) && resolve(true);
        const timer = setTimeout(() => resolve(false), timeoutMs);
        onRelease = () => check() && clearTimeout(timer);
        if (check()) clearTimeout(timer);
      });
    try {
      await stack().nats.flush();
      // The failing document is locked first, so its lock lapses first: a round meets it before the others.
      for (const documentId of [failing, ...others]) {
        const reply = await requestService(stack().nats, projectClientEvents['document:start_editing'].subject, { ctx, payload: { document_id: documentId } }, { timeoutMs: 10_000 });
        expect(reply.ok, JSON.stringify(reply)).toBe(true);
      }

      expect(await releasedAll(others, 20_000), `released: ${JSON.stringify([...released])}`).toBe(true);
      for (const id of others) expect(released.get(id)).toBe('expired');
      expect(released.has(failing)).toBe(false);
      const logs = stack().logs('documents');
      expect(logs).toMatch(new RegExp(`"document_id":${failing}\\b[^\\n]*releasing a lapsed lock failed|releasing a lapsed lock failed[^\\n]*"document_id":${failing}\\b`));

      // Once its release can succeed, the next round releases it.
      await withDb((db) => db.query('DROP TRIGGER refuse_unlock ON documents.documents'));
      expect(await releasedAll([failing], 20_000), `released: ${JSON.stringify([...released])}`).toBe(true);
      expect(released.get(failing)).toBe('expired');
    } finally {
      sub.unsubscribe();
    }
  });
});
