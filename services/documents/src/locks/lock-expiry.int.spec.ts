import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { projectClientEvents, subjects, type ConnectionClosedNotice } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { requestService } from '@siteflow/messaging';
import { useStack, type Stack } from '@siteflow/testing';

const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
const ctxOf = (connectionId: string) => ({
  user_id: bob.id,
  username: bob.username,
  role: bob.role,
  avatar_url: bob.avatar_url,
  connection_id: connectionId,
  project_id: 1,
});

async function withDb<T>(stack: Stack, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

/** Project 1's first three documents, the first of which can no longer be released: a trigger refuses it. */
async function documentsWithOneUnreleasable(stack: Stack): Promise<[number, number, number]> {
  const ids = await withDb(stack, async (db) =>
    (await db.query<{ id: string }>('SELECT id FROM documents.documents WHERE project_id = 1 ORDER BY id LIMIT 3')).rows.map((r) =>
      Number(r.id),
    ),
  );
  expect(ids).toHaveLength(3);
  await withDb(stack, (db) =>
    db.query(`
      CREATE FUNCTION public.refuse_unlock() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'test: the release of document % fails', OLD.id; END $$;
      CREATE TRIGGER refuse_unlock BEFORE UPDATE ON documents.documents FOR EACH ROW
        WHEN (OLD.id = ${ids[0]} AND OLD.lock_user_id IS NOT NULL AND NEW.lock_user_id IS NULL) EXECUTE FUNCTION public.refuse_unlock();`),
  );
  return ids as [number, number, number];
}

async function acquire(stack: Stack, connectionId: string, documentIds: number[]): Promise<void> {
  for (const documentId of documentIds) {
    const reply = await requestService(
      stack.nats,
      projectClientEvents['document:start_editing'].subject,
      { ctx: ctxOf(connectionId), payload: { document_id: documentId } },
      { timeoutMs: 10_000 },
    );
    expect(reply.ok, JSON.stringify(reply)).toBe(true);
  }
}

/** Every `LockReleased` of project 1 from now on, and a wait for some of them. */
async function watchReleases(stack: Stack) {
  const released = new Map<number, string>();
  let onRelease = () => {};
  const sub = stack.nats.subscribe(subjects.projectEvent(1, 'documents', 'LockReleased'), {
    callback: (_err, m) => {
      const event = m.json<{ data: { document_id: number; reason: string } }>();
      released.set(event.data.document_id, event.data.reason);
      onRelease();
    },
  });
  await stack.nats.flush();
  const until = (wanted: number[], timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        const all = wanted.every((id) => released.has(id));
        if (all) resolve(true);
        return all;
      };
      const timer = setTimeout(() => resolve(false), timeoutMs);
      onRelease = () => check() && clearTimeout(timer);
      if (check()) clearTimeout(timer);
    });
  return { released, until, stop: () => sub.unsubscribe() };
}

/**
 * Each lock is released on its own: one document whose release fails (here a trigger in the
 * database refuses to clear its lock) is logged with its id and tried again, and does not keep the
 * others locked.
 */
describe('documents: the lock sweep, one document at a time', () => {
  const stack = useStack({ services: ['documents'], gateway: false, env: { LOCK_LEASE_MS: '1500', LOCK_SWEEP_MS: '200' } });

  it('a document whose release fails does not hold back the others, and is released once it can be', async () => {
    const [failing, ...others] = await documentsWithOneUnreleasable(stack());
    const releases = await watchReleases(stack());
    try {
      // The failing document is locked first, so its lock lapses first: a round meets it before the others.
      await acquire(stack(), 'lock-expiry-test', [failing, ...others]);

      expect(await releases.until(others, 20_000), `released: ${JSON.stringify([...releases.released])}`).toBe(true);
      for (const id of others) expect(releases.released.get(id)).toBe('expired');
      expect(releases.released.has(failing)).toBe(false);
      expect(stack().logs('documents')).toMatch(new RegExp(`"document_id":${failing}\\b[^\\n]*releasing a lapsed lock failed`));

      // Once its release can succeed, the next round releases it.
      await withDb(stack(), (db) => db.query('DROP TRIGGER refuse_unlock ON documents.documents'));
      expect(await releases.until([failing], 20_000), `released: ${JSON.stringify([...releases.released])}`).toBe(true);
      expect(releases.released.get(failing)).toBe('expired');
    } finally {
      releases.stop();
    }
  });
});

describe('documents: a closed connection’s locks, one document at a time', () => {
  // Leases far beyond the test: only the connection-closed notice releases these locks.
  const stack = useStack({ services: ['documents'], gateway: false, env: { LOCK_LEASE_MS: '600000' } });

  it('a document whose release fails does not keep the connection’s other locks held', async () => {
    const [failing, ...others] = await documentsWithOneUnreleasable(stack());
    const releases = await watchReleases(stack());
    try {
      await acquire(stack(), 'closed-connection-test', [failing, ...others]);
      const notice: ConnectionClosedNotice = { connection_id: 'closed-connection-test', user_id: bob.id, project_ids: [1] };
      stack().nats.publish(subjects.connectionClosed, JSON.stringify(notice));

      expect(await releases.until(others, 20_000), `released: ${JSON.stringify([...releases.released])}`).toBe(true);
      for (const id of others) expect(releases.released.get(id)).toBe('disconnected');
      expect(releases.released.has(failing)).toBe(false);
      expect(stack().logs('documents')).toMatch(
        new RegExp(`"document_id":${failing}\\b[^\\n]*releasing a lock of a closed connection failed`),
      );
    } finally {
      releases.stop();
    }
  });
});
