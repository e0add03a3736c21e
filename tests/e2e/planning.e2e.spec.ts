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

/**
 * The seed's end-to-end flows (section 13) and the web issue's, each user in a browser context of
 * their own, against the system started as under `npm start` (gateway serving web/dist).
 */
describe('planning room flows in the browser', () => {
  let db: TestDatabase;
  let stack: Stack;
  let browser: Browser;
  let alice: SignedInUser;
  let bob: SignedInUser;

  const enter = async (username: string, roomPath: string, viewport?: { width: number; height: number }) => {
    const u = await enterRoom(browser, stack.gatewayUrl, username, roomPath, viewport ? { viewport } : {});
    return u;
  };
  /** Opens a document from the list, going back to the list first when a document is open. */
  const openDocument = async (u: SignedInUser, title: string) => {
    const back = u.page.getByRole('button', { name: /All documents/ });
    if (await back.isVisible()) await back.click();
    await u.page.locator('.document-open', { hasText: title }).click();
    await u.page.locator('.document-view-title', { hasText: title }).waitFor();
  };

  beforeAll(async () => {
    if (!existsSync(path.join(WEB_DIST, 'index.html'))) throw new Error('web/dist is missing: build the web app first (npm run build -w web)');
    await mkdir(SHOTS, { recursive: true });
    db = await createTestDatabase(inject('databaseUrl'));
    stack = await startStack({ natsUrl: inject('natsUrl'), databaseUrl: db.url, env: { WEB_DIST } });
    browser = await launchBrowser();
    alice = await enter('alice', '/admin/projects/1/planning');
    bob = await enter('bob', '/projects/1/planning');
  });
  afterAll(async () => {
    await alice?.context.close().catch(() => undefined);
    await bob?.context.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
    await db?.drop();
  });

  it('two users see each other online (two .user-avatar each)', async () => {
    for (const u of [alice, bob]) await expect.poll(() => u.page.locator('.user-avatar').count(), { timeout: 10_000 }).toBe(2);
  });

  it('user 1 starts editing; user 2 sees .locked-banner and a disabled Start Editing', async () => {
    await openDocument(alice, 'Timeline');
    await alice.page.getByRole('button', { name: 'Start Editing' }).click();
    await alice.page.getByLabel('Content (Markdown)').waitFor();
    await openDocument(bob, 'Timeline');
    await expect.poll(() => bob.page.locator('.locked-banner').textContent(), { timeout: 10_000 }).toContain('alice is currently editing this document');
    expect(await bob.page.getByRole('button', { name: 'Start Editing' }).isDisabled()).toBe(true);
    // The editor's mark follows the lock into presence.
    await expect.poll(() => bob.page.locator('.user-avatar.is-editing').count(), { timeout: 10_000 }).toBe(1);
  });

  it('user 1 saves; user 2 sees the new content and an "Updated by" toast without reloading', async () => {
    const editor = alice.page.getByLabel('Content (Markdown)');
    await editor.fill('# Timeline\n\n## Milestones\n- Kick-off: week 1\n- Launch: week 12 (agreed in the room)\n');
    await alice.page.getByRole('button', { name: 'Save', exact: true }).click();
    await bob.page.locator('.document-view', { hasText: 'Launch: week 12 (agreed in the room)' }).waitFor({ timeout: 10_000 });
    await bob.page.locator('.toast-text', { hasText: 'Updated by alice' }).waitFor({ timeout: 10_000 });
    await alice.page.screenshot({ path: path.join(SHOTS, 'editing-desktop.png'), fullPage: true });
    await alice.page.getByRole('button', { name: 'Stop Editing' }).click();
    await expect.poll(() => bob.page.locator('.locked-banner').count(), { timeout: 10_000 }).toBe(0);
    expect(await bob.page.getByRole('button', { name: 'Start Editing' }).isEnabled()).toBe(true);
  });

  it('a document with an <img onerror> and a javascript: link renders inert', async () => {
    await alice.page.getByRole('button', { name: 'Start Editing' }).click();
    await alice.page.getByLabel('Content (Markdown)').fill('# Timeline\n\n<img src=x onerror=alert(1)>\n\n[click me](javascript:alert(2))\n');
    await alice.page.getByRole('button', { name: 'Save', exact: true }).click();
    await alice.page.getByRole('button', { name: 'Stop Editing' }).click();
    await bob.page.locator('.document-view', { hasText: 'click me' }).waitFor({ timeout: 10_000 });
    expect(await bob.page.locator('.document-view img').count()).toBe(0);
    expect(await bob.page.locator('.document-view a[href^="javascript:"]').count()).toBe(0);
    await bob.page.waitForTimeout(300);
    for (const u of [alice, bob]) {
      expect(u.dialogs).toEqual([]);
      expect(u.errors).toEqual([]);
    }
  });

  it('a checklist toggle moves the progress bar on the other user\'s screen', async () => {
    const progress = (u: SignedInUser) => u.page.getByTestId('checklist-progress').getAttribute('aria-valuenow').then(Number);
    await expect.poll(() => alice.page.locator('.checklist-item').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const before = await progress(bob);
    await alice.page.locator('.checklist-item .check-input').first().check();
    await expect.poll(() => progress(bob), { timeout: 10_000 }).toBeGreaterThan(before);
    expect(await progress(alice)).toBe(await progress(bob));
  });

  it('chat between two users shows the unread badge on the other side', async () => {
    const carol = await enter('carol', '/projects/1/planning', { width: 390, height: 844 });
    try {
      await alice.page.getByLabel('Message').fill('Carol, can you check the budget?');
      await alice.page.getByLabel('Message').press('Enter');
      await bob.page.locator('.chat-message', { hasText: 'Carol, can you check the budget?' }).waitFor({ timeout: 10_000 });
      // On a phone the chat is below the fold: the message stays unread and the badge counts it.
      await expect.poll(() => carol.page.getByTestId('unread-badge').first().textContent(), { timeout: 10_000 }).toMatch(/[1-9]/);
      await carol.page.screenshot({ path: path.join(SHOTS, 'room-phone.png'), fullPage: true });
    } finally {
      await carol.context.close();
    }
  });

  it('survives a gateway restart: both show reconnecting, then the live room with presence and locks', async () => {
    await openDocument(alice, 'Budget');
    await alice.page.getByRole('button', { name: 'Start Editing' }).click();
    await alice.page.getByLabel('Content (Markdown)').waitFor();
    await alice.page.getByLabel('Content (Markdown)').fill('# Budget\n\nunsaved words typed before the outage');

    await stack.kill('gateway', 'SIGKILL');
    for (const u of [alice, bob]) {
      await expect.poll(() => u.page.getByTestId('connection-state').getAttribute('data-state'), { timeout: 10_000 }).not.toBe('connected');
    }
    await stack.start('gateway');
    for (const u of [alice, bob]) {
      await expect.poll(() => u.page.getByTestId('connection-state').getAttribute('data-state'), { timeout: 30_000 }).toBe('connected');
      await expect.poll(() => u.page.locator('.user-avatar').count(), { timeout: 20_000 }).toBe(2);
    }
    // Alice's unsaved text survived; the lock is hers again (re-taken by her editor after rejoin).
    await expect.poll(() => alice.page.getByLabel('Content (Markdown)').inputValue(), { timeout: 20_000 }).toContain('unsaved words typed before the outage');
    await openDocument(bob, 'Budget');
    await expect.poll(() => bob.page.locator('.locked-banner').textContent(), { timeout: 20_000 }).toContain('alice is currently editing');
  });
});
