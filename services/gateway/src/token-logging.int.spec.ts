import { afterAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { rawSocket, useStack, type RawSocket } from '@siteflow/testing';

type Frame = [string | null, string | null, string, string, { status: string; response: unknown }];

/**
 * Tokens travel in the socket URL's query string (as the phoenix client sends them): whatever the
 * gateway logs, at its most verbose level, through accepted, refused and failing connections,
 * must never carry one.
 */
describe('tokens never reach the logs', () => {
  const stack = useStack({ processEnv: { gateway: { LOG_LEVEL: 'trace' } } });
  const open: RawSocket[] = [];
  afterAll(() => {
    for (const s of open) void s.close();
  });

  const sign = (claims: { sub: string; exp: number }, secret: string) =>
    new SignJWT({ name: 'alice', role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.sub)
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime(claims.exp)
      .sign(new TextEncoder().encode(secret));

  it('after joins, pushes, errors, refusals and closes, no log line holds a token or the query string', async () => {
    const alice = (await stack().devLogin('alice')).token;
    const bob = (await stack().devLogin('bob')).token;
    const expired = await sign({ sub: '1', exp: Math.floor(Date.now() / 1000) - 60 }, stack().jwtSecret);
    const forged = await sign({ sub: '1', exp: Math.floor(Date.now() / 1000) + 600 }, 'x'.repeat(48));

    const a = await rawSocket(stack().socketUrl, alice);
    open.push(a);
    const b = await rawSocket(stack().socketUrl, bob, { query: { extra: 'x' } });
    open.push(b);
    const reply = (s: RawSocket, ref: string) => s.next((f) => f[1] === ref && f[3] === 'phx_reply', 5_000) as Promise<Frame>;

    a.send(['1', '1', 'project:1', 'phx_join', {}]);
    expect((await reply(a, '1'))[4].status).toBe('ok');
    a.send(['1', '2', 'project:1', 'chat:message', { text: 'hello' }]);
    expect((await reply(a, '2'))[4].status).toBe('ok');
    a.send(['1', '3', 'project:1', 'no:such_event', {}]);
    expect((await reply(a, '3'))[4]).toMatchObject({ status: 'error', response: { code: 'unknown_event' } });
    b.send(['9', '9', 'project:424242', 'phx_join', {}]);
    expect((await reply(b, '9'))[4].status).toBe('error');
    b.send(['9', '10', 'user:1', 'phx_join', {}]);
    expect((await reply(b, '10'))[4]).toMatchObject({ status: 'error', response: { code: 'unauthorized' } });
    a.sendRaw('{not json');

    await expect(rawSocket(stack().socketUrl, expired)).rejects.toThrow(/403/);
    await expect(rawSocket(stack().socketUrl, forged)).rejects.toThrow(/403/);
    await expect(rawSocket(stack().socketUrl, 'not-a-jwt')).rejects.toThrow(/403/);
    void b.close();
    await b.closed;

    // The gateway did log at trace level throughout (so the check below looks at real output).
    await expect
      .poll(
        () =>
          stack()
            .logs('gateway')
            .split('\n')
            .filter((l) => l.startsWith('{')).length,
      )
      .toBeGreaterThan(0);
    const logs = stack().logs('gateway');
    for (const token of [alice, bob, expired, forged]) {
      expect(logs).not.toContain(token);
      // Not even a part of one (a truncated URL would still leak the header and claims).
      expect(logs).not.toContain(token.split('.')[1]!);
      expect(logs).not.toContain(token.split('.')[2]!);
    }
    expect(logs).not.toContain('not-a-jwt');
    expect(logs).not.toMatch(/token=/);
  });
});
