import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, rawSocket, startStack, type Stack, type TestDatabase, testNatsUrl } from '@siteflow/testing';

/** Sessions end with their token: an expired token is refused, a live socket closes at expiry. */
describe('session expiry', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({ natsUrl: testNatsUrl(), databaseUrl: db.url, services: ['documents', 'presence', 'chat', 'checklist'] });
  });
  afterAll(async () => {
    // Unset when beforeAll failed.
    await (stack as Stack | undefined)?.stop();
    await (db as TestDatabase | undefined)?.drop();
  });

  const token = (expiresInS: number) =>
    new SignJWT({ name: 'bob', role: 'customer', avatar_url: '/avatars/bob.svg' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('2')
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInS)
      .sign(new TextEncoder().encode(stack.jwtSecret));

  it('refuses an expired token at the handshake', async () => {
    await expect(rawSocket(stack.socketUrl, await token(-5))).rejects.toThrow(/403/);
  });

  it('closes a socket when its token expires, even while it is active', async () => {
    // Long enough for the join to be answered on a loaded machine (it took over 2 s once), short enough to wait for.
    const s = await rawSocket(stack.socketUrl, await token(10));
    s.send(['1', '1', 'project:1', 'phx_join', {}]);
    expect(((await s.next((f) => f[1] === '1' && f[3] === 'phx_reply', 5000))[4] as { status: string }).status).toBe('ok');
    const beat = setInterval(() => s.isOpen && s.send([null, 'hb', 'phoenix', 'heartbeat', {}]), 300);
    try {
      const closed = await s.closed;
      expect(closed.code).toBe(1008);
      expect(closed.reason).toBe('session expired');
    } finally {
      clearInterval(beat);
    }
  });
});
