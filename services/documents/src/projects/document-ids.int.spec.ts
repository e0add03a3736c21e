import { afterAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import {
  CREATE_PROJECT_SUBJECT,
  DocumentsServiceSnapshot,
  projectClientEvents,
  subjects,
  type DocumentMeta,
  type DocumentType,
} from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { createEventStore } from '@siteflow/eventstore';
import { requestService } from '@siteflow/messaging';
import { decideInTransaction, runStreamCommand } from '@siteflow/servicekit';
import { createTestDatabase, useStack, type TestDatabase } from '@siteflow/testing';
import { decideDocument } from '../documents/decide.js';
import { DOCUMENT_TYPES, initialDocumentState } from '../documents/document.js';
import { documentCommand } from '../documents/document-stream.js';
import { documentsMigrations } from '../migrations.js';
import { projectCommand } from './projects.service.js';
import { DOCUMENT_TITLES } from './starter-documents.js';

/** A release that knew 8 of today's 9 document types: its ids were (project − 1) × 8 + type. */
const OLD_TYPES = DOCUMENT_TYPES.slice(0, 8);
const oldDocumentId = (projectId: number, type: DocumentType) => (projectId - 1) * OLD_TYPES.length + OLD_TYPES.indexOf(type) + 1;
const OLD_PROJECTS = [1, 2, 3];
// Not ASCII alone: migration 5 hashes the stored text as UTF-8, as the service does.
const contentOf = (projectId: number, type: DocumentType) => `# ${type} of project ${projectId}: Bauablauf, Übergabe — ✓`;

const bob = DEMO_USERS.find((u) => u.username === 'bob')!;
const members = DEMO_USERS.map((u) => ({ user_id: u.id, username: u.username, role: u.role, avatar_url: u.avatar_url }));
const ctxIn = (projectId: number) => ({
  user_id: bob.id,
  username: bob.username,
  role: bob.role,
  avatar_url: bob.avatar_url,
  connection_id: 'document-ids-test',
  project_id: projectId,
});

/**
 * Stores projects 1–3 as that release did, with its own schema (migrations 1 and 2) and through
 * the service's own code for appending, so the service then boots on existing data (a migration,
 * not a fresh database).
 */
async function storePreviousRelease(databaseUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const store = createEventStore({ pool, schema: 'documents' });
    await store.migrate(documentsMigrations.filter((m) => m.id <= 2));
    // Today's code reads a document's content hash (migration 5): the column is there while it
    // writes, then the rows are given back the shape that release left.
    await pool.query('ALTER TABLE documents.documents ADD COLUMN content_sha256 text');
    for (const projectId of OLD_PROJECTS) {
      await runStreamCommand(
        store,
        projectCommand(
          projectId,
          (now) => ({ type: 'CreateProject', data: { projectId, name: `Project ${projectId}`, members, createdBy: null, now } }),
          async (tx, now) => {
            for (const type of OLD_TYPES) {
              const events = decideDocument(
                {
                  type: 'CreateDocument',
                  data: {
                    documentId: oldDocumentId(projectId, type),
                    projectId,
                    documentType: type,
                    title: DOCUMENT_TITLES[type],
                    content: contentOf(projectId, type),
                    createdBy: null,
                    now,
                  },
                },
                initialDocumentState,
              );
              const documentId = oldDocumentId(projectId, type);
              await decideInTransaction(
                tx,
                documentCommand(
                  { nats: {} },
                  documentId,
                  null,
                  () => events,
                  () => undefined,
                ),
              );
            }
          },
        ),
      );
    }
    await pool.query('ALTER TABLE documents.documents DROP COLUMN content_sha256');
  } finally {
    await pool.end();
  }
}

/**
 * Document ids do not follow from the number of document types: data stored before a type was
 * added keeps its ids, every project gets the new type's document under an id of its own, and new
 * projects take ids above every stored one.
 */
describe('documents: ids survive a new document type', () => {
  let database: TestDatabase | undefined;
  // Registered before the stack's own hooks, so it runs after the stack stopped.
  afterAll(async () => database?.drop());
  const stack = useStack(async () => {
    database = await createTestDatabase(inject('databaseUrl'));
    await storePreviousRelease(database.url);
    return { databaseUrl: database.url, services: ['documents'], gateway: false };
  });

  const snapshotOf = async (projectId: number): Promise<DocumentMeta[]> => {
    const reply = await requestService(
      stack().nats,
      subjects.snapshot('documents'),
      { ctx: ctxIn(projectId), payload: {} },
      { timeoutMs: 10_000 },
    );
    if (!reply.ok) throw new Error(`snapshot of project ${projectId}: ${JSON.stringify(reply.error)}`);
    return DocumentsServiceSnapshot.parse(reply.data).part.documents;
  };
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
    const db = new pg.Client({ connectionString: stack().databaseUrl });
    await db.connect();
    try {
      return (await db.query<R>(sql, params)).rows;
    } finally {
      await db.end();
    }
  };

  it('keeps every stored document’s id and content, adds the new type to every project under fresh ids, and replays agree', async () => {
    const highestOld = OLD_PROJECTS.length * OLD_TYPES.length;
    const seen = new Map<number, number>();
    for (const projectId of OLD_PROJECTS) {
      const documents = await snapshotOf(projectId);
      expect(documents.map((d) => d.document_type).sort(), `project ${projectId}`).toEqual([...DOCUMENT_TYPES].sort());
      for (const d of documents) {
        expect(seen.get(d.id), `document ${d.id} of project ${projectId} is also project ${seen.get(d.id)}'s`).toBeUndefined();
        seen.set(d.id, projectId);
        if (OLD_TYPES.includes(d.document_type)) expect(d.id).toBe(oldDocumentId(projectId, d.document_type));
        else expect(d.id).toBeGreaterThan(highestOld);
      }
    }
    const stored = await query<{ id: string; project_id: string; document_type: DocumentType; content: string }>(
      'SELECT id, project_id, document_type, content FROM documents.documents WHERE document_type = ANY($1::text[])',
      [OLD_TYPES],
    );
    expect(stored).toHaveLength(OLD_PROJECTS.length * OLD_TYPES.length);
    for (const r of stored) expect(r.content).toBe(contentOf(Number(r.project_id), r.document_type));

    // A project created now: all its documents, ids above every stored one.
    const created = await requestService(
      stack().nats,
      CREATE_PROJECT_SUBJECT,
      {
        ctx: { ...ctxIn(4), user_id: 1, username: 'alice', role: 'admin', avatar_url: '/avatars/alice.svg' },
        payload: { project_id: 4, name: 'Project 4', members },
      },
      { timeoutMs: 10_000 },
    );
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const fresh = await snapshotOf(4);
    expect(fresh.map((d) => d.document_type).sort()).toEqual([...DOCUMENT_TYPES].sort());
    for (const d of fresh) {
      expect(seen.get(d.id)).toBeUndefined();
      seen.set(d.id, 4);
      expect(d.id).toBeGreaterThan(highestOld);
    }

    // The event store says the same: each document's stream starts with its DocumentCreated, naming its id and project.
    const createdEvents = await query<{ stream_id: string; document_id: number; project_id: number }>(
      `SELECT stream_id, (data->>'document_id')::int AS document_id, (data->>'project_id')::int AS project_id FROM documents.events WHERE type = 'DocumentCreated'`,
    );
    expect(new Map(createdEvents.map((e) => [e.document_id, e.project_id]))).toEqual(seen);
    for (const e of createdEvents) expect(e.stream_id).toBe(`document-${e.document_id}`);

    // Ids taken from the snapshot work for commands, on stored and new documents alike.
    const project2 = await snapshotOf(2);
    for (const d of [
      project2.find((x) => OLD_TYPES.includes(x.document_type))!,
      project2.find((x) => !OLD_TYPES.includes(x.document_type))!,
    ]) {
      const acquired = await requestService(
        stack().nats,
        projectClientEvents['document:start_editing'].subject,
        { ctx: ctxIn(2), payload: { document_id: d.id } },
        { timeoutMs: 10_000 },
      );
      expect(acquired.ok, JSON.stringify(acquired)).toBe(true);
      const [row] = await query<{ content: string }>('SELECT content FROM documents.documents WHERE id = $1', [d.id]);
      if (OLD_TYPES.includes(d.document_type)) expect(row!.content).toBe(contentOf(2, d.document_type));
      // The hash migration 5 computed for a stored row is the one the service computes: an auto-save
      // of the same text is no new version, and of another text is.
      const autoSave = (content: string) =>
        requestService(
          stack().nats,
          projectClientEvents['document:auto_save'].subject,
          { ctx: ctxIn(2), payload: { document_id: d.id, content, base_version: 1 } },
          { timeoutMs: 10_000 },
        );
      expect(await autoSave(row!.content)).toMatchObject({ ok: true, data: { version: 1, saved: false } });
      expect(await autoSave(`${row!.content}å more`)).toMatchObject({ ok: true, data: { version: 2, saved: true } });
    }
  });

  it('a restarted service (another instance booting) adds nothing and moves nothing', async () => {
    const before = await query<{ id: string; project_id: string; document_type: string }>(
      'SELECT id, project_id, document_type FROM documents.documents ORDER BY id',
    );
    await stack().kill('documents', 'SIGTERM');
    await stack().start('documents');
    const after = await query<{ id: string; project_id: string; document_type: string }>(
      'SELECT id, project_id, document_type FROM documents.documents ORDER BY id',
    );
    expect(after).toEqual(before);
  });
});
