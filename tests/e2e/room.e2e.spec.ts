import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createTestDatabase, enterRoom, launchBrowser, startStack, type SignedInUser, type Stack, type TestDatabase } from '@siteflow/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WEB_DIST = path.join(ROOT, 'web', 'dist');
const SHOTS = path.join(ROOT, 'test-results', 'screenshots');

/** The planning room in a real Chromium, against the whole system as `npm start` runs it. */
describe('planning room in the browser', () => {
  let db: TestDatabase;
  let stack: Stack;
  let browser: Browser;
  const users: SignedInUser[] = [];

  beforeAll(async () => {
    if (!existsSync(path.join(WEB_DIST, 'index.html'))) throw new Error('web/dist is missing: build the web app first (npm run build -w web)');
    await mkdir(SHOTS, { recursive: true });
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({ natsUrl: inject('natsUrl'), databaseUrl: db.url, env: { WEB_DIST } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const u of users) await u.context.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
    await db?.drop();
  });

  const enter = async (username: string, roomPath: string, viewport?: { width: number; height: number }) => {
    const u = await enterRoom(browser, stack.gatewayUrl, username, roomPath, viewport ? { viewport } : {});
    users.push(u);
    return u;
  };

  it('two users chat: each sees the other\'s message live, without reloading', async () => {
    const alice = await enter('alice', '/admin/projects/1/planning');
    const bob = await enter('bob', '/projects/1/planning');

    await alice.page.getByLabel('Message').fill('Shall we start with the timeline?');
    await alice.page.getByLabel('Message').press('Enter');
    await bob.page.locator('.chat-message', { hasText: 'Shall we start with the timeline?' }).waitFor({ timeout: 10_000 });

    await bob.page.getByLabel('Message').fill('Yes, and the budget after.');
    await bob.page.getByRole('button', { name: 'Send' }).click();
    await alice.page.locator('.chat-message', { hasText: 'Yes, and the budget after.' }).waitFor({ timeout: 10_000 });

    // Each message shows once on each side (the sender's own copy is not doubled by the broadcast).
    for (const u of [alice, bob]) {
      await expect.poll(() => u.page.locator('.chat-message', { hasText: 'Shall we start with the timeline?' }).count()).toBe(1);
      await expect.poll(() => u.page.locator('.chat-message', { hasText: 'Yes, and the budget after.' }).count()).toBe(1);
    }
    await alice.page.screenshot({ path: path.join(SHOTS, 'room-desktop.png'), fullPage: true });
    const phone = await enter('carol', '/projects/1/planning', { width: 390, height: 844 });
    await phone.page.locator('.chat-message', { hasText: 'Yes, and the budget after.' }).waitFor({ timeout: 10_000 });
    await phone.page.screenshot({ path: path.join(SHOTS, 'room-phone.png'), fullPage: true });
  });

  it('a chat message carrying markup renders as inert text', async () => {
    const alice = users[0]!;
    const bob = users[1]!;
    const hostile = '<img src=x onerror=alert(1)> [click](javascript:alert(2)) <script>alert(3)</script>';
    await alice.page.getByLabel('Message').fill(hostile);
    await alice.page.getByLabel('Message').press('Enter');
    const shown = bob.page.locator('.chat-message .chat-text', { hasText: '<img src=x onerror=alert(1)>' });
    await shown.waitFor({ timeout: 10_000 });
    expect(await shown.textContent()).toBe(hostile);
    expect(await bob.page.locator('.chat-messages img, .chat-messages script, .chat-messages a[href^="javascript:"]').count()).toBe(0);
    await bob.page.waitForTimeout(300);
    for (const u of [alice, bob]) {
      expect(u.dialogs).toEqual([]);
      expect(u.errors).toEqual([]);
    }
  });
});
