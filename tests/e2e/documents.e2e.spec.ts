import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useBrowserRoom, type SignedInUser } from '@siteflow/testing';

/**
 * Reading and editing documents in a real Chromium, against the whole system as `npm start` runs
 * it: how the starter documents render, what a lock lost says and allows, signing out with
 * unsaved text, and how the app itself is served.
 */
describe('documents in the browser', () => {
  const room = useBrowserRoom();
  let alice: SignedInUser;
  let bob: SignedInUser;

  /** Opens a document from the list, going back to the list first when a document is open. */
  const openDocument = async (page: Page, title: string) => {
    const back = page.getByRole('button', { name: /All documents/ });
    if (await back.isVisible()) await back.click();
    await page.locator('.document-open', { hasText: title }).click();
    await page.locator('.document-view-title', { hasText: title }).waitFor();
  };
  const startEditing = async (page: Page) => {
    await page.getByRole('button', { name: 'Start Editing' }).click();
    await page.getByLabel('Content (Markdown)').waitFor();
  };
  /** The admin releases the lock on the open document, answering its confirmation with yes. */
  const releaseLock = async (admin: Page) => {
    await admin.evaluate(() => {
      window.confirm = () => true;
    });
    await admin.getByRole('button', { name: 'Release lock' }).click();
  };
  const editorProblem = (page: Page) => page.locator('.editor-problem').first();
  /** What of the user's text is on the screen off the editor: a kept draft, or the saved version it became. */
  const textOffTheEditor = async (page: Page) => {
    const kept = page.locator('.kept-draft textarea');
    return (await kept.count()) > 0 ? kept.inputValue() : ((await page.locator('.document-view .markdown-preview').textContent()) ?? '');
  };

  beforeAll(async () => {
    alice = await room().enter('alice', '/admin/projects/1/planning', { width: 1366, height: 850 });
    bob = await room().enter('bob', '/projects/1/planning', { width: 1366, height: 850 });
  });

  it('the starter Timeline shows a table and the Feature List a task list (GitHub-flavoured Markdown)', async () => {
    await openDocument(bob.page, 'Timeline');
    const table = bob.page.locator('.document-view .markdown-preview table');
    await table.waitFor({ timeout: 10_000 });
    expect(await table.locator('th').allTextContents()).toEqual(['Phase', 'Weeks']);
    expect(await table.locator('tbody tr').count()).toBe(4);
    expect(await bob.page.locator('.document-view .markdown-preview').textContent()).not.toContain('|');

    await openDocument(bob.page, 'Feature List');
    const tasks = bob.page.locator('.document-view .markdown-preview li.task-list-item');
    await expect.poll(() => tasks.count(), { timeout: 10_000 }).toBe(4);
    expect(await tasks.locator('input[type="checkbox"]').count()).toBe(4);
    expect(await bob.page.locator('.document-view .markdown-preview').textContent()).not.toContain('[ ]');
  });

  it('after an admin releases the lock, the button under the pointer cannot take it back; the draft stays; editing again is a separate step', async () => {
    await openDocument(bob.page, 'Budget');
    await startEditing(bob.page);
    await bob.page.getByLabel('Content (Markdown)').fill('# Budget\n\nbob was halfway through this sentence');
    await openDocument(alice.page, 'Budget');
    await alice.page.locator('.locked-banner', { hasText: 'bob is currently editing' }).waitFor({ timeout: 10_000 });
    await releaseLock(alice.page);

    await editorProblem(bob.page).filter({ hasText: /released it/ }).waitFor({ timeout: 10_000 });
    // Where Save was a moment ago: a click meant for Save must not take the lock again.
    const underPointer = bob.page.locator('.document-toolbar .button').first();
    expect(await underPointer.isDisabled()).toBe(true);
    await underPointer.click({ force: true });
    // The draft is still on the screen, unsaved or saved.
    await expect.poll(() => textOffTheEditor(bob.page)).toContain('bob was halfway through this sentence');
    expect(await alice.page.locator('.locked-banner').count()).toBe(0);

    // The deliberate way back: acknowledge the notice, then Edit again.
    await editorProblem(bob.page).getByRole('button', { name: 'OK' }).click();
    await bob.page.getByRole('button', { name: /^(Edit again|Start Editing)$/ }).click();
    await bob.page.getByLabel('Content (Markdown)').waitFor();
    expect(await bob.page.getByLabel('Content (Markdown)').inputValue()).toContain('bob was halfway through this sentence');
    await alice.page.locator('.locked-banner', { hasText: 'bob is currently editing' }).waitFor({ timeout: 10_000 });
    await bob.page.getByRole('button', { name: 'Stop Editing' }).click();
    await expect.poll(() => alice.page.locator('.locked-banner').count(), { timeout: 10_000 }).toBe(0);
  });

  it('a lock lost after everything was saved says so, instead of promising text below', async () => {
    await openDocument(bob.page, 'Risk Analysis');
    await startEditing(bob.page);
    await bob.page.getByLabel('Content (Markdown)').fill('# Risk Analysis\n\nsaved before the release');
    await bob.page.getByRole('button', { name: 'Save', exact: true }).click();
    await bob.page.getByTestId('saving-indicator').filter({ hasText: /^Saved/ }).waitFor({ timeout: 10_000 });
    await openDocument(alice.page, 'Risk Analysis');
    await alice.page.locator('.locked-banner', { hasText: 'bob is currently editing' }).waitFor({ timeout: 10_000 });
    await releaseLock(alice.page);

    const notice = editorProblem(bob.page);
    await notice.filter({ hasText: /released it/ }).waitFor({ timeout: 10_000 });
    expect(await notice.textContent()).toContain('Everything you wrote is saved');
    expect(await notice.textContent()).not.toContain('has not been saved');
    expect(await bob.page.locator('.kept-draft').count()).toBe(0);
    await editorProblem(bob.page).getByRole('button', { name: 'OK' }).click();
  });

  it('a second tab of the same user taking over tells the first tab that it was this user, elsewhere', async () => {
    await openDocument(alice.page, 'Success Metrics');
    await startEditing(alice.page);
    await alice.page.getByLabel('Content (Markdown)').fill('# Success Metrics\n\ntyped in the first tab');

    const secondTab = await alice.context.newPage();
    try {
      await secondTab.goto('/admin/projects/1/planning');
      await secondTab.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 15_000 });
      await openDocument(secondTab, 'Success Metrics');
      await secondTab.getByRole('button', { name: 'Start Editing' }).click();
      await secondTab.getByRole('button', { name: 'Take over here' }).click();
      await secondTab.getByLabel('Content (Markdown)').waitFor({ timeout: 10_000 });

      // The first tab learns at once (not at its next save), and is not told "alice is editing it".
      const notice = editorProblem(alice.page);
      await notice.waitFor({ timeout: 10_000 });
      expect(await notice.textContent()).toContain('another tab or window');
      expect(await notice.textContent()).not.toContain('alice is editing');
      expect(await textOffTheEditor(alice.page)).toContain('typed in the first tab');
      await secondTab.getByRole('button', { name: 'Stop Editing' }).click();
      await expect.poll(() => secondTab.getByRole('button', { name: 'Start Editing' }).count(), { timeout: 10_000 }).toBe(1);
    } finally {
      await secondTab.close();
    }
    await editorProblem(alice.page).getByRole('button', { name: 'OK' }).click();
  });

  it('signing out with unsaved text asks first; declining keeps the user in the room with the text', async () => {
    await openDocument(bob.page, 'Deployment Plan');
    await startEditing(bob.page);
    const dialogsBefore = bob.dialogs.length;
    await bob.page.getByLabel('Content (Markdown)').fill('# Deployment Plan\n\ntyped just before signing out');
    await bob.page.getByRole('button', { name: 'Sign out' }).click();
    // The helper answers every dialog with "cancel".
    await expect.poll(() => bob.dialogs.length).toBe(dialogsBefore + 1);
    expect(bob.dialogs.at(-1)).toMatch(/^confirm: .*Deployment Plan/);
    expect(new URL(bob.page.url()).pathname).toBe('/projects/1/planning');
    expect(await bob.page.getByLabel('Content (Markdown)').inputValue()).toContain('typed just before signing out');
    await bob.page.getByRole('button', { name: 'Stop Editing' }).click();
    await bob.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });
  });

  it('serves hashed assets compressed and cached for good, index.html revalidated, and no public source map', async () => {
    // A context of its own: nothing cached yet, every asset comes from the gateway.
    const context = await room().browser.newContext({ baseURL: room().stack.gatewayUrl });
    const page = await context.newPage();
    try {
      const responses = new Map<string, { headers: Record<string, string>; status: number }>();
      page.on('response', async (r) => {
        const url = new URL(r.url());
        if (url.origin === new URL(room().stack.gatewayUrl).origin) responses.set(url.pathname, { headers: await r.allHeaders(), status: r.status() });
      });
      await page.goto('/login');
      await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 15_000 });
      await expect.poll(() => [...responses.keys()].filter((p) => p.startsWith('/assets/')).length).toBeGreaterThanOrEqual(2);

      const html = [...responses.entries()].find(([p]) => p === '/login');
      expect(html?.[1].headers['cache-control']).toBe('no-cache');
      for (const [p, r] of responses) {
        if (!p.startsWith('/assets/')) continue;
        expect(r.status, p).toBe(200);
        expect(r.headers['cache-control'], p).toBe('public, max-age=31536000, immutable');
        expect(r.headers['content-encoding'], p).toBe('br');
      }

      const script = [...responses.keys()].find((p) => p.startsWith('/assets/') && p.endsWith('.js'));
      expect(script).toBeDefined();
      const gz = await fetch(`${room().stack.gatewayUrl}${script}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(gz.headers.get('content-encoding')).toBe('gzip');
      const body = await gz.text();
      expect(body).not.toContain('sourceMappingURL');
      const map = await fetch(`${room().stack.gatewayUrl}${script}.map`);
      expect(map.status).toBe(404);
    } finally {
      await context.close();
    }
  });
});
