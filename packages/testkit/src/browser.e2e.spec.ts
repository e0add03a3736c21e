import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchBrowser, WEB_DIST } from '@siteflow/testing';
import { startSiteflow, type Siteflow } from './index.js';

/** signInBrowser: a page opened in the context is signed in as the web app stores a session. */
let siteflow: Siteflow;
let browser: Browser;

beforeAll(async () => {
  siteflow = await startSiteflow({ partEnv: { gateway: { WEB_DIST } } });
  browser = await launchBrowser();
});

afterAll(async () => {
  await (browser as Browser | undefined)?.close(); // undefined when the start failed
  await (siteflow as Siteflow | undefined)?.stop();
});

it('a user signed into a browser context opens the room and is seen there by a realtime client', async () => {
  const alice = siteflow.user('alice', 'admin');
  const bob = siteflow.user('bob');
  const project = await siteflow.createProject({ name: 'Quay walls', members: [alice, bob] });
  const watcher = await siteflow.connect(alice);
  const room = await watcher.join(project.topic);

  const context = await browser.newContext({ baseURL: siteflow.gatewayUrl });
  try {
    const session = await siteflow.signInBrowser(context, bob);
    const page = await context.newPage();
    await page.goto(project.roomPath(bob));
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Quay walls' }).waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => localStorage.getItem('auth_token'))).toBe(session.token);
    await room.presence.until((p) => p.has(bob.id), 20_000, 'bob (in the browser) present');
  } finally {
    await context.close();
    await watcher.close();
  }
});

it('a Siteflow link carrying a token in its fragment opens the room signed in, and the token leaves the address bar at once', async () => {
  const alice = siteflow.user('alice', 'admin');
  const bob = siteflow.user('bob');
  const project = await siteflow.createProject({ name: 'Harbour crane', members: [alice, bob] });
  const watcher = await siteflow.connect(alice);
  const room = await watcher.join(project.topic);
  // What Siteflow's issuer hands over: a token for bob, signed with the keys the gateway trusts.
  const token = await siteflow.token(bob);
  const context = await browser.newContext({ baseURL: siteflow.gatewayUrl });
  try {
    const page = await context.newPage();
    await page.goto(`${project.roomPath(bob)}#access_token=${token}&token_type=Bearer`);
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Harbour crane' }).waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe(project.roomPath(bob));
    expect(await page.evaluate(() => ({ hash: location.hash, href: location.href }))).toEqual({
      hash: '',
      href: `${siteflow.gatewayUrl}${project.roomPath(bob)}`,
    });
    expect(await page.evaluate(() => localStorage.getItem('auth_token'))).toBe(token);
    expect(JSON.parse((await page.evaluate(() => localStorage.getItem('auth_user'))) ?? 'null')).toMatchObject({
      id: bob.id,
      username: 'bob',
    });
    await room.presence.until((p) => p.has(bob.id), 20_000, 'bob (opened from the link) present');
    // Back does not bring the token back: its entry was replaced, not followed by a clean one.
    await page.goBack();
    expect(page.url()).not.toContain('access_token');
  } finally {
    await context.close();
    await watcher.close();
  }
});

it('an expired or garbled token in the link is refused with a message, and leaves the address bar too', async () => {
  const bob = siteflow.user('bob');
  const project = await siteflow.createProject({ members: [siteflow.user('alice', 'admin'), bob] });
  const expired = await siteflow.token(bob, { ttlSeconds: -60 });
  const context = await browser.newContext({ baseURL: siteflow.gatewayUrl });
  try {
    const page = await context.newPage();
    for (const [token, said] of [
      [expired, /The sign-in link from Siteflow has expired\./],
      ['not-a-token', /carried a token this app cannot read/],
    ] as const) {
      await page.goto(`${project.roomPath(bob)}#access_token=${token}`);
      const problem = page.getByTestId('sign-in-problem');
      await problem.waitFor({ timeout: 30_000 });
      expect(await problem.textContent()).toMatch(said);
      expect(new URL(page.url()).pathname).toBe('/login');
      expect(page.url()).not.toContain('access_token');
      expect(await page.evaluate(() => localStorage.getItem('auth_token'))).toBeNull();
    }
  } finally {
    await context.close();
  }
});
