import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { SignJWT } from 'jose';
import { rawSocket, useStack } from '@siteflow/testing';

/**
 * Demo users, the demo project and its content exist only with SEED_DEMO=true (issue 18): a system
 * started without it, dev login on, has no project, offers nobody to sign in as, and refuses a join
 * of the demo project's topic.
 */
describe('a system started without SEED_DEMO', () => {
  const stack = useStack({ env: { SEED_DEMO: 'false', DEV_LOGIN: 'true' } });

  it('has no demo project, users or content', async () => {
    const db = new pg.Pool({ connectionString: stack().databaseUrl, max: 1 });
    try {
      const count = async (table: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
      const counts = {
        projects: await count('documents.projects'),
        members: await count('documents.project_members'),
        documents: await count('documents.documents'),
        events: await count('documents.events'),
        checklist: await count('checklist.items'),
        chat: await count('chat.members'),
      };
      expect(counts).toEqual({ projects: 0, members: 0, documents: 0, events: 0, checklist: 0, chat: 0 });
    } finally {
      await db.end();
    }

    const offered = await fetch(`${stack().gatewayUrl}/api/auth/dev-login`);
    expect(await offered.json()).toEqual({ users: [] });
    const login = await fetch(`${stack().gatewayUrl}/api/auth/dev-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice' }),
    });
    expect(login.status).toBe(404);

    // Someone signed in by Siteflow as user 1 (alice's id in the demo) belongs to nothing here.
    const token = await new SignJWT({ username: 'alice', role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('1')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(stack().jwtSecret));
    const mine = await fetch(`${stack().gatewayUrl}/api/projects`, { headers: { authorization: `Bearer ${token}` } });
    expect(await mine.json()).toEqual({ projects: [] });
    const socket = await rawSocket(stack().socketUrl, token);
    try {
      socket.send(['1', '1', 'project:1', 'phx_join', {}]);
      const reply = await socket.next((f) => f[1] === '1' && f[3] === 'phx_reply', 15_000);
      expect(reply[4]).toMatchObject({ status: 'error', response: { code: 'unauthorized' } });
    } finally {
      await socket.close();
    }
  });
});
