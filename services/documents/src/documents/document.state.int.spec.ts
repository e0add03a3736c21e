import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { AppError } from '@siteflow/contracts';
import { createEventStore } from '@siteflow/eventstore';
import { runStreamCommand, type ServiceKit } from '@siteflow/servicekit';
import { useTestPool } from '@siteflow/testing';
import type { LockActor } from '../locks/decide.js';
import { documentsMigrations } from '../migrations.js';
import { createProject } from '../projects/projects.service.js';
import { decide, type DocumentStreamCommand } from './document-decider.js';
import { contentSha256, documentStreamId, evolve, initialDocumentState, type DocumentEvent } from './document.js';
import { documentCommand } from './document-stream.js';
import { loadDocument } from './documents.read-model.js';

const actors: LockActor[] = [
  { userId: 1, username: 'alice', role: 'admin', connectionId: 'c-alice' },
  { userId: 2, username: 'bob', role: 'customer', connectionId: 'c-bob-1' },
  { userId: 2, username: 'bob', role: 'customer', connectionId: 'c-bob-2' },
];
const actor = fc.constantFrom(...actors);
/** Leases of a few milliseconds: a command takes that long, so locks also lapse between generated commands. */
const policy = fc.record({ leaseMs: fc.integer({ min: 1, max: 40 }), idleCapMs: fc.integer({ min: 1, max: 80 }) });
const command = fc.oneof(
  fc.record({ type: fc.constant('AcquireLock' as const), actor, takeOver: fc.boolean(), policy }),
  fc.record({ type: fc.constant('RenewLock' as const), actor, policy }),
  fc.record({ type: fc.constant('ReleaseLock' as const), actor }),
  fc.record({ type: fc.constant('ForceReleaseLock' as const), actor }),
  fc.record({ type: fc.constant('ExpireLock' as const) }),
  fc.record({
    type: fc.constant('SaveDocument' as const),
    actor,
    content: fc.constantFrom('a', 'b', '# Timeline\n'),
    auto: fc.boolean(),
    policy,
  }),
);
type Generated = typeof command extends fc.Arbitrary<infer T> ? T : never;

function toCommand(g: Generated, version: number, now: Date): DocumentStreamCommand {
  switch (g.type) {
    case 'AcquireLock':
      return { type: g.type, data: { actor: g.actor, takeOver: g.takeOver, now, policy: g.policy } };
    case 'RenewLock':
      return { type: g.type, data: { actor: g.actor, now, policy: g.policy } };
    case 'ReleaseLock':
      return { type: g.type, data: { actor: g.actor, now } };
    case 'ForceReleaseLock':
      return { type: g.type, data: { actor: g.actor, reason: 'test', now } };
    case 'ExpireLock':
      return { type: g.type, data: { now } };
    case 'SaveDocument':
      return {
        type: g.type,
        data: { actor: g.actor, content: g.content, baseVersion: version, auto: g.auto, now, policy: g.policy },
      };
  }
}

/**
 * Document commands decide on state loaded from the document's read-model row (production); the
 * decider tests fold the events. After any sequence of lock and save commands run through the
 * pipeline, the two are the same state.
 */
describe('documents: the state loaded from the read model is the state folded from the events', () => {
  const db = useTestPool(async (pool) => {
    const store = createEventStore({ pool, schema: 'documents' });
    await store.migrate(documentsMigrations);
    return { store };
  });
  const kit = { nats: {} };

  it('for generated command sequences', async () => {
    const { pool, store } = db();
    let projectId = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 12 }), async (commands) => {
        projectId++;
        const members = [{ user_id: 1, username: 'alice', role: 'admin' as const, avatar_url: '' }];
        await createProject({ store, nats: {} } as unknown as ServiceKit, { projectId, name: `p${projectId}`, members, createdBy: null });
        const { rows } = await pool.query<{ id: string }>('SELECT id FROM documents.documents WHERE project_id = $1 ORDER BY id LIMIT 1', [
          projectId,
        ]);
        const documentId = Number(rows[0]?.id);
        for (const g of commands) {
          try {
            await runStreamCommand(
              store,
              documentCommand(
                kit,
                documentId,
                projectId,
                (s, { now }) => decide(toCommand(g, s.status === 'exists' ? s.version : 0, now), s),
                () => undefined,
              ),
            );
          } catch (e) {
            if (!(e instanceof AppError)) throw e; // a refusal writes nothing
          }
        }
        const spec = documentCommand(
          kit,
          documentId,
          projectId,
          () => [],
          () => undefined,
        );
        const loaded = await store.transaction(async (tx) => spec.load(tx, await tx.streamVersion(spec.streamId), null));
        const folded = (await store.readStream(documentStreamId(documentId)))
          .map((e) => ({ type: e.type, data: e.data }) as DocumentEvent)
          .reduce(evolve, initialDocumentState);
        expect(loaded).toEqual(folded);
      }),
      { numRuns: 25 },
    );
  });

  it('a lock and a save are two round trips each: the row read with BEGIN and the lock; the append, the row and the version written with COMMIT', async () => {
    const { pool, store } = db();
    const projectId = 100_000;
    const members = [{ user_id: 1, username: 'alice', role: 'admin' as const, avatar_url: '' }];
    await createProject({ store, nats: {} } as unknown as ServiceKit, { projectId, name: 'trips', members, createdBy: null });
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM documents.documents WHERE project_id = $1 ORDER BY id', [projectId]);
    const [documentId, warmId] = rows.map((r) => Number(r.id));
    const alice = actors[0]!;
    const policy = { leaseMs: 60_000, idleCapMs: 600_000 };
    const run = (id: number, asked: (version: number, now: Date) => DocumentStreamCommand) =>
      runStreamCommand(
        store,
        documentCommand(
          kit,
          id,
          projectId,
          (s, { now }) => decide(asked(s.status === 'exists' ? s.version : 0, now), s),
          ({ version }) => version,
        ),
      );
    const lock = (version: number, now: Date): DocumentStreamCommand => ({
      type: 'AcquireLock',
      data: { actor: alice, takeOver: false, now, policy },
    });
    const save =
      (content: string) =>
      (version: number, now: Date): DocumentStreamCommand => ({
        type: 'SaveDocument',
        data: { actor: alice, content, baseVersion: version, auto: false, now, policy },
      });
    // Prepares the statements on the pool's connections (a round trip each, once per connection).
    for (let i = 0; i < 3; i++) {
      await run(warmId!, lock);
      await run(warmId!, save(`warm ${i}`));
    }
    const trips = async (fn: () => Promise<unknown>) => {
      const sent = vi.spyOn(pg.Client.prototype, 'query');
      await fn();
      const texts = sent.mock.calls
        .map((c) => (typeof c[0] === 'string' ? c[0] : ((c[0] as { text?: string }).text ?? '')))
        .filter((t) => !t.startsWith('PREPARE '));
      sent.mockRestore();
      return texts;
    };
    const content = '# Timeline\n\nit\'s "quoted" \\ and saved: a-marker-of-this-content\n';
    const renew = (version: number, now: Date): DocumentStreamCommand => ({ type: 'RenewLock', data: { actor: alice, now, policy } });
    // How often the content goes to Postgres with each command: a save sends it three times (the
    // event's data, the row, the version's row; not its broadcast, which names it), a lock command never.
    const copies = (sent: string[]) => sent.join('\n').split('a-marker-of-this-content').length - 1;
    for (const [step, sends] of [
      [lock, 0],
      [save(content), 3],
      [renew, 0],
    ] as const) {
      const sent = await trips(() => run(documentId!, step));
      expect(sent).toHaveLength(2);
      expect(sent[0]).toMatch(/^BEGIN;\n/);
      expect(sent[1]).toMatch(/\nCOMMIT$/);
      expect(copies(sent)).toBe(sends);
    }
    // Stored as decided: the row (content, its hash, version, lock) and the saved version.
    const doc = await loadDocument(pool as unknown as pg.PoolClient, documentId!);
    expect(doc).toMatchObject({ version: 2, contentSha256: contentSha256(content), lock: { userId: 1 } });
    const row = await pool.query<{ content: string; pg_sha256: string; content_sha256: string }>(
      `SELECT content, content_sha256, encode(sha256(convert_to(content, 'UTF8')), 'hex') AS pg_sha256 FROM documents.documents WHERE id = $1`,
      [documentId],
    );
    expect(row.rows[0]).toEqual({ content, content_sha256: contentSha256(content), pg_sha256: contentSha256(content) });
    // An instance of the release before, still running during a rollout, writes the content without
    // its hash: the hash follows (a trigger), and the next command decides on the text now stored.
    const older = 'written by the release before — ✓\n';
    await pool.query('UPDATE documents.documents SET content = $2 WHERE id = $1', [documentId, older]);
    expect(await loadDocument(pool as unknown as pg.PoolClient, documentId!)).toMatchObject({ contentSha256: contentSha256(older) });
    const autoSave =
      (text: string) =>
      (version: number, now: Date): DocumentStreamCommand => ({
        type: 'SaveDocument',
        data: { actor: alice, content: text, baseVersion: version, auto: true, now, policy },
      });
    await run(documentId!, autoSave(older)); // unchanged: no new version (a LockRenewed)
    expect((await loadDocument(pool as unknown as pg.PoolClient, documentId!))?.version).toBe(2);
    await run(documentId!, autoSave(content)); // the text of version 2, no longer the stored one: a new version
    expect(await loadDocument(pool as unknown as pg.PoolClient, documentId!)).toMatchObject({
      version: 3,
      contentSha256: contentSha256(content),
    });
    const versions = await pool.query('SELECT version, content FROM documents.document_versions WHERE document_id = $1 ORDER BY version', [
      documentId,
    ]);
    expect(versions.rows.map((r: { version: number }) => r.version)).toEqual([1, 2, 3]);
    // The trigger's contract: a write of the content that brings a new hash keeps it (the service
    // sends the one it computed, and Postgres hashes nothing); one that brings none gets Postgres's.
    const hashAfter = async (sql: string, params: unknown[]) => {
      await pool.query(sql, params);
      return (await pool.query<{ h: string }>('SELECT content_sha256 AS h FROM documents.documents WHERE id = $1', [documentId])).rows[0]
        ?.h;
    };
    expect(
      await hashAfter('UPDATE documents.documents SET content = $2, content_sha256 = $3 WHERE id = $1', [documentId, 'x', 'sent']),
    ).toBe('sent');
    expect(await hashAfter('UPDATE documents.documents SET content = $2 WHERE id = $1', [documentId, 'y'])).toBe(contentSha256('y'));
    expect(await hashAfter('UPDATE documents.documents SET version = version WHERE id = $1', [documentId])).toBe(contentSha256('y'));
  });
});
