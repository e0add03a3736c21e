import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEventStore } from '@siteflow/eventstore';
import { createTestDatabase, type TestDatabase } from '@siteflow/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PASSWORD = 'role-test-password';
const ROLES = ['siteflow_chat', 'siteflow_documents', 'siteflow_presence', 'siteflow_checklist'];

/** infra/postgres/roles.sql: each service's role can use its own schema and nothing else. */
describe('Postgres least privilege', () => {
  let db: TestDatabase;
  const pools: pg.Pool[] = [];
  const as = (role: string) => {
    const url = new URL(db.url);
    url.username = role;
    url.password = PASSWORD;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    try {
      execFileSync(
        'psql',
        [db.url, '-q', '-v', `password='${PASSWORD}'`, '-v', `db=${db.name}`, '-f', path.join(ROOT, 'infra/postgres/roles.sql')],
        { stdio: 'pipe' },
      );
    } catch (e) {
      throw new Error(
        `psql failed (apt-get install postgresql-client if it is missing): ${String((e as { stderr?: Buffer }).stderr ?? e)}`,
        { cause: e },
      );
    }
  });
  afterAll(async () => {
    for (const p of pools) await p.end();
    await (db as TestDatabase | undefined)?.drop(); // unset when beforeAll failed
    const admin = new pg.Client({ connectionString: inject('databaseUrl') });
    await admin.connect();
    for (const r of ROLES) await admin.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined);
    await admin.end();
  });

  it('lets each service create and use its own schema only', async () => {
    const chat = as('siteflow_chat');
    const documents = as('siteflow_documents');
    await createEventStore({ pool: chat, schema: 'chat' }).migrate();
    const docs = createEventStore({ pool: documents, schema: 'documents' });
    await docs.migrate();
    await docs.transaction((tx) =>
      tx.append('project-1', [{ type: 'ProjectCreated', data: { secret: 'documents only' }, projectId: 1 }], {
        expectedVersion: 'no_stream',
      }),
    );

    expect((await chat.query<{ n: number }>('SELECT count(*)::int AS n FROM chat.events')).rows[0]!.n).toBe(0);
    const denied = (sql: string) =>
      chat.query(sql).then(
        () => 'allowed',
        (e: unknown) => (e as { code?: string }).code,
      );
    expect(await denied('SELECT * FROM documents.events')).toBe('42501');
    expect(await denied('CREATE TABLE documents.stolen (x int)')).toBe('42501');
    expect(await denied('CREATE TABLE public.anything (x int)')).toBe('42501');
    expect(await denied('CREATE ROLE sneaky')).toBe('42501');
    expect((await documents.query<{ n: number }>('SELECT count(*)::int AS n FROM documents.events')).rows[0]!.n).toBe(1);
  });
});
