import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import type { BrowserContext, Page } from 'playwright-core';
import { useBrowserRoom } from '@siteflow/testing';

/**
 * Opening the planning room from a Siteflow link (issue 18): Siteflow's backend creates the project
 * over the projects API, then sends its user to `/projects/<id>/planning#access_token=<JWT>`; the
 * web app takes the token, removes it from the address bar at once, and opens the room, with no
 * sign-in page on the way. The project list comes from `GET /api/projects`.
 */
describe('the planning room opened from a Siteflow link', () => {
  const room = useBrowserRoom();
  const PROJECT = 7300;
  const gina = { id: 601, username: 'gina' };
  const contexts: BrowserContext[] = [];

  /** A token as Siteflow's issuer signs it (the stack's HS256 key stands in for Siteflow's). */
  const siteflowToken = (claims: { sub: string; username: string; role?: string; scope?: string }, expiresAt?: number) =>
    new SignJWT({ role: 'customer', ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime(expiresAt ?? '1h')
      .sign(new TextEncoder().encode(room().stack.jwtSecret));

  const newPage = async (): Promise<Page> => {
    const context = await room().browser.newContext({ baseURL: room().stack.gatewayUrl, viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    return context.newPage();
  };

  beforeAll(async () => {
    const admin = await siteflowToken({ sub: '900', username: 'siteflow', scope: 'projects:admin' });
    const res = await fetch(`${room().stack.gatewayUrl}/api/admin/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: PROJECT,
        name: 'Linked from Siteflow',
        members: [{ user_id: gina.id, username: gina.username, role: 'customer' }],
      }),
    });
    expect(res.status, await res.text()).toBe(201);
    return async () => {
      for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    };
  });

  it('takes the token from the fragment, removes it from the address bar at once, and opens the room', async () => {
    const token = await siteflowToken({ sub: String(gina.id), username: gina.username });
    const page = await newPage();
    // Where the address bar was whenever the app opened a socket: the token must be gone before
    // the app talks to the server at all.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { urlsAtSocket: string[] }).urlsAtSocket = seen;
      const Original = window.WebSocket;
      window.WebSocket = class extends Original {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          seen.push(window.location.href);
          super(...args);
        }
      };
    });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));

    await page.goto(`/projects/${PROJECT}/planning#access_token=${token}&token_type=Bearer&expires_in=3600`);
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 15_000 });
    await page.getByRole('heading', { name: 'Linked from Siteflow' }).waitFor({ timeout: 15_000 });

    // The address bar: the room's path, no fragment; the session is the handed-over token.
    expect(new URL(page.url()).pathname).toBe(`/projects/${PROJECT}/planning`);
    expect(page.url()).not.toContain('access_token');
    expect(await page.evaluate(() => window.location.hash)).toBe('');
    expect(
      await page.evaluate((t) => Object.keys(window.localStorage).some((k) => window.localStorage.getItem(k)?.includes(t)), token),
    ).toBe(true);
    const atSocket = await page.evaluate(() => (window as unknown as { urlsAtSocket: string[] }).urlsAtSocket);
    expect(atSocket.length).toBeGreaterThan(0);
    expect(atSocket.filter((u) => u.includes('access_token'))).toEqual([]);
    // Never sent to a server: a fragment is not part of a request's URL.
    expect(requests.some((u) => u.includes(token))).toBe(false);
    // No sign-in page on the way.
    expect(requests.some((u) => new URL(u).pathname.startsWith('/login'))).toBe(false);

    // The room knows her as gina (the token's user), and she can chat.
    await page.getByLabel('Message').fill('Hello from a Siteflow link');
    await page.getByLabel('Message').press('Enter');
    await page.locator('.chat-message', { hasText: 'Hello from a Siteflow link' }).waitFor({ timeout: 10_000 });

    // Her project list is GET /api/projects: the project Siteflow created, nothing of the demo's.
    await page.goto('/projects');
    await page.getByRole('heading', { name: 'Linked from Siteflow' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('.project-card .project-name').allTextContents()).toEqual(['Linked from Siteflow']);
  });

  it('an expired token in the link is refused on the sign-in page, and removed from the address bar too', async () => {
    const token = await siteflowToken({ sub: String(gina.id), username: gina.username }, Math.floor(Date.now() / 1000) - 60);
    const page = await newPage();
    await page.goto(`/projects/${PROJECT}/planning#access_token=${token}`);
    await page.getByText('The sign-in link from Siteflow has expired.').waitFor({ timeout: 15_000 });
    expect(page.url()).not.toContain('access_token');
    expect(
      await page.evaluate((t) => Object.keys(window.localStorage).some((k) => window.localStorage.getItem(k)?.includes(t)), token),
    ).toBe(false);
  });
});
