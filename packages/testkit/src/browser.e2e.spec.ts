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
  await browser?.close();
  await siteflow?.stop();
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
