import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SCREENSHOTS as SHOTS, useBrowserRoom, type SignedInUser } from '@siteflow/testing';

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

    await editorProblem(bob.page)
      .filter({ hasText: /released it/ })
      .waitFor({ timeout: 10_000 });
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
    await bob.page
      .getByTestId('saving-indicator')
      .filter({ hasText: /^Saved/ })
      .waitFor({ timeout: 10_000 });
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

  it('Ctrl+S saves while editing, and Escape stops editing (saving first)', async () => {
    await openDocument(bob.page, 'Content Structure');
    await startEditing(bob.page);
    await openDocument(alice.page, 'Content Structure');
    const editor = bob.page.getByLabel('Content (Markdown)');
    await editor.fill('# Content Structure\n\nsaved with the keyboard');
    await editor.press('Control+s');
    await alice.page.locator('.document-view .markdown-preview', { hasText: 'saved with the keyboard' }).waitFor({ timeout: 10_000 });
    expect(await editor.isVisible()).toBe(true);

    await editor.fill('# Content Structure\n\nsaved by Escape');
    await editor.press('Escape');
    await bob.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });
    await alice.page.locator('.document-view .markdown-preview', { hasText: 'saved by Escape' }).waitFor({ timeout: 10_000 });
    await expect.poll(() => alice.page.locator('.locked-banner').count(), { timeout: 10_000 }).toBe(0);
  });

  it('a viewer is told once who changed which document, not at every save of the same run', async () => {
    await openDocument(alice.page, 'Technical Specification');
    await openDocument(bob.page, 'Technical Specification');
    await startEditing(bob.page);
    const editor = bob.page.getByLabel('Content (Markdown)');
    const notice = alice.page.locator('.toast-text', { hasText: 'Updated by bob: Technical Specification' });
    await editor.fill('# Technical Specification\n\nfirst save');
    await editor.press('Control+s');
    await notice.waitFor({ timeout: 10_000 });
    const first = await notice.textContent();
    expect(first).toMatch(/^Updated by bob: Technical Specification is now v\d+$/);
    await alice.page
      .locator('.toast', { hasText: 'Updated by bob: Technical Specification' })
      .getByRole('button', { name: 'Dismiss notification' })
      .click();

    await editor.fill('# Technical Specification\n\nsecond save');
    await editor.press('Control+s');
    await alice.page.locator('.document-view .markdown-preview', { hasText: 'second save' }).waitFor({ timeout: 10_000 });
    // The preview moved on; the run's notice is not shown again.
    expect(await notice.count()).toBe(0);
    await bob.page.getByRole('button', { name: 'Stop Editing' }).click();
    await bob.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });
  });

  it('an edit request offers the holder "Hand over"; the requester is told the lock is free and takes it from the notice', async () => {
    await openDocument(bob.page, 'Design System');
    await startEditing(bob.page);
    await bob.page.getByLabel('Content (Markdown)').fill('# Design System\n\nhanded over with this line');
    await openDocument(alice.page, 'Design System');
    await alice.page.locator('.locked-banner', { hasText: 'bob is currently editing' }).waitFor({ timeout: 10_000 });
    await alice.page.getByRole('button', { name: 'Request edit' }).click();

    const request = bob.page.locator('.toast', { hasText: 'alice asks to edit Design System' });
    await request.getByRole('button', { name: 'Hand over' }).click();
    await bob.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });

    const free = alice.page.locator('.toast', { hasText: 'Design System is free to edit now' });
    await free.getByRole('button', { name: 'Start editing' }).click();
    await alice.page.getByLabel('Content (Markdown)').waitFor({ timeout: 10_000 });
    // Bob's text was saved before the lock went.
    expect(await alice.page.getByLabel('Content (Markdown)').inputValue()).toContain('handed over with this line');
    await bob.page.locator('.locked-banner', { hasText: 'alice is currently editing' }).waitFor({ timeout: 10_000 });
    await alice.page.getByRole('button', { name: 'Stop Editing' }).click();
    await alice.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });
  });

  it('the document list names the last editor and when; a ticked item names who ticked it', async () => {
    for (const u of [alice, bob]) {
      const back = u.page.getByRole('button', { name: /All documents/ });
      if (await back.isVisible()) await back.click();
    }
    // bob saved Content Structure last (the keyboard test).
    const edited = (u: SignedInUser) =>
      u.page.locator('.document-item', { hasText: 'Content Structure' }).locator('.document-edited').textContent();
    await expect.poll(() => edited(bob), { timeout: 10_000 }).toMatch(/^you, \S/);
    await expect.poll(() => edited(alice), { timeout: 10_000 }).toMatch(/^bob, \S/);

    const item = (u: SignedInUser) => u.page.locator('.checklist-item').first();
    await item(bob).locator('.check-input').check();
    await expect.poll(() => item(alice).locator('.checklist-byline').textContent(), { timeout: 10_000 }).toMatch(/^Ticked by bob, /);
    await expect.poll(() => item(bob).locator('.checklist-byline').textContent(), { timeout: 10_000 }).toMatch(/^Ticked by bob, /);
    await item(bob).locator('.check-input').uncheck();
    await expect.poll(() => item(alice).locator('.checklist-byline').count(), { timeout: 10_000 }).toBe(0);
  });

  it('at 1366×850 the chat composer and Send are in sight and no notice covers them; a very long message is collapsed', async () => {
    const send = alice.page.getByRole('button', { name: 'Send' });
    const inView = (page: Page, box: Awaited<ReturnType<typeof send.boundingBox>>) =>
      box !== null && box.y + box.height <= page.viewportSize()!.height;
    await alice.page.evaluate(() => window.scrollTo(0, 0));
    expect(inView(alice.page, await send.boundingBox())).toBe(true);
    expect(inView(alice.page, await alice.page.getByLabel('Message').boundingBox())).toBe(true);

    const long = `${'A long planning note that goes on and on. '.repeat(95)}END`;
    await bob.page.getByLabel('Message').fill(long);
    await bob.page.getByLabel('Message').press('Enter');
    const message = alice.page.locator('.chat-message', { hasText: 'A long planning note' }).last();
    await message.waitFor({ timeout: 10_000 });
    const text = message.locator('.chat-text');
    const panel = await alice.page.locator('.chat-messages').boundingBox();
    expect((await text.boundingBox())!.height).toBeLessThan(panel!.height / 2);
    await message.getByRole('button', { name: 'Show more' }).click();
    expect((await text.boundingBox())!.height).toBeGreaterThan(panel!.height / 2);

    // A notice arrives while alice is at the composer: it does not cover Send.
    await openDocument(alice.page, 'Budget');
    await openDocument(bob.page, 'Budget');
    await startEditing(bob.page);
    await bob.page.getByLabel('Content (Markdown)').fill('# Budget\n\nwhile alice chats');
    await bob.page.getByLabel('Content (Markdown)').press('Control+s');
    const toast = alice.page.locator('.toast', { hasText: 'Updated by bob: Budget' });
    await toast.waitFor({ timeout: 10_000 });
    const [t, b] = [await toast.boundingBox(), await send.boundingBox()];
    const overlaps = t!.x < b!.x + b!.width && b!.x < t!.x + t!.width && t!.y < b!.y + b!.height && b!.y < t!.y + t!.height;
    expect(overlaps).toBe(false);
    await bob.page.getByRole('button', { name: 'Stop Editing' }).click();
    await bob.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });
  });

  it('an admin renames the project in place and everyone sees the new name; a customer has no such control', async () => {
    expect(await bob.page.getByRole('button', { name: 'Rename' }).count()).toBe(0);
    await alice.page.getByRole('button', { name: 'Rename' }).click();
    const input = alice.page.getByRole('textbox', { name: 'Project name' });
    expect(await input.inputValue()).toBe('Demo project');
    await input.fill('  ');
    await input.press('Enter');
    await alice.page.locator('.project-rename-form .inline-error', { hasText: 'Give the project a name.' }).waitFor();
    await input.fill('Harbour office website');
    await input.press('Enter');
    await bob.page.getByRole('heading', { level: 1, name: 'Harbour office website' }).waitFor({ timeout: 10_000 });
    await alice.page.getByRole('heading', { level: 1, name: 'Harbour office website' }).waitFor({ timeout: 10_000 });

    // Back to the demo name (Escape cancels a rename on the way).
    await alice.page.getByRole('button', { name: 'Rename' }).click();
    await input.fill('never sent');
    await input.press('Escape');
    expect(await input.count()).toBe(0);
    await alice.page.getByRole('button', { name: 'Rename' }).click();
    await input.fill('Demo project');
    await input.press('Enter');
    await bob.page.getByRole('heading', { level: 1, name: 'Demo project' }).waitFor({ timeout: 10_000 });
  });

  it('History compares an earlier version with the current one, line by line', async () => {
    // The notice test saved "first save", then "second save".
    await openDocument(alice.page, 'Technical Specification');
    await alice.page.getByRole('button', { name: 'History' }).click();
    const current = Number((await alice.page.locator('.document-view-title .count').textContent())!.replace('v', ''));
    await alice.page.getByRole('button', { name: `Compare version ${current - 1} with the current version` }).click();
    const diff = alice.page.locator('.version-diff');
    await diff.waitFor({ timeout: 10_000 });
    expect(await alice.page.locator('.version-view .subheading').textContent()).toContain(`changes from v${current - 1} to v${current}`);
    expect(await diff.locator('.diff-removed .diff-text').allTextContents()).toEqual(['first save']);
    expect(await diff.locator('.diff-added .diff-text').allTextContents()).toEqual(['second save']);
    expect(await diff.getByTestId('diff-summary').textContent()).toBe('1 line added, 1 removed');
    await alice.page.getByRole('button', { name: 'Show the text' }).click();
    await alice.page.locator('.version-view .markdown-preview', { hasText: 'first save' }).waitFor();
    await alice.page.getByRole('button', { name: 'Hide history' }).click();
  });

  it('follows a dark system setting', async () => {
    const context = await room().browser.newContext({ baseURL: room().stack.gatewayUrl, colorScheme: 'dark' });
    try {
      const page = await context.newPage();
      await page.goto('/login');
      await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 15_000 });
      const luminance = await page.evaluate(() => {
        const [r, g, b] = getComputedStyle(document.documentElement).backgroundColor.match(/\d+/g)!.map(Number) as [number, number, number];
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      });
      expect(luminance).toBeLessThan(0.2);
      expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toContain('dark');
    } finally {
      await context.close();
    }
  });

  it('serves hashed assets compressed and cached for good, index.html revalidated, and no public source map', async () => {
    // A context of its own: nothing cached yet, every asset comes from the gateway.
    const context = await room().browser.newContext({ baseURL: room().stack.gatewayUrl });
    const page = await context.newPage();
    try {
      const responses = new Map<string, { headers: Record<string, string>; status: number }>();
      page.on('response', async (r) => {
        const url = new URL(r.url());
        if (url.origin === new URL(room().stack.gatewayUrl).origin)
          responses.set(url.pathname, { headers: await r.allHeaders(), status: r.status() });
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

  it('the room at 1366×850 and on a 390×844 phone: alice edits the Timeline while bob and carol watch (README screenshots)', async () => {
    await openDocument(alice.page, 'Timeline');
    await startEditing(alice.page);
    await alice.page.getByLabel('Message').fill('Moving the launch to week 11, the table is updated.');
    await alice.page.getByLabel('Message').press('Enter');
    await bob.page.getByLabel('Message').fill('Looks good. I will tick the design review when it is done.');
    await bob.page.getByLabel('Message').press('Enter');
    await openDocument(bob.page, 'Timeline');
    await bob.page.locator('.locked-banner', { hasText: 'alice is currently editing' }).waitFor({ timeout: 10_000 });
    await bob.page.locator('.chat-message', { hasText: 'Moving the launch to week 11' }).waitFor({ timeout: 10_000 });
    await bob.page.locator('.document-view .markdown-preview table').waitFor();
    // One tick at a time: each waits for the room to show it.
    for (const n of [1, 2]) {
      await alice.page
        .locator('.checklist-item .check-input')
        .nth(n - 1)
        .click();
      await expect.poll(() => bob.page.locator('.checklist-byline', { hasText: 'Ticked by alice' }).count(), { timeout: 10_000 }).toBe(n);
    }
    await bob.page.evaluate(() => window.scrollTo(0, 0));
    await bob.page.screenshot({ path: path.join(SHOTS, 'planning-room.png') });
    await bob.page.emulateMedia({ colorScheme: 'dark' });
    // Buttons fade to their new colours (a CSS transition): the picture waits for the end of it.
    const sendBackground = () => bob.page.getByRole('button', { name: 'Send' }).evaluate((el) => getComputedStyle(el).backgroundColor);
    await expect.poll(sendBackground).toBe('rgb(122, 162, 255)');
    await bob.page
      .getByRole('button', { name: 'Send' })
      .evaluate((el) => Promise.all(el.ownerDocument.getAnimations().map((a) => a.finished)));
    await bob.page.screenshot({ path: path.join(SHOTS, 'planning-room-dark.png') });
    await bob.page.emulateMedia({ colorScheme: 'light' });

    const carol = await room().enter('carol', '/projects/1/planning', { width: 390, height: 844 });
    await openDocument(carol.page, 'Timeline');
    await carol.page.locator('.document-view .markdown-preview table').waitFor();
    await carol.page.locator('.locked-banner', { hasText: 'alice is currently editing' }).waitFor({ timeout: 10_000 });
    await carol.page.screenshot({ path: path.join(SHOTS, 'planning-room-phone.png') });
    await alice.page.getByRole('button', { name: 'Stop Editing' }).click();
    await alice.page.getByRole('button', { name: 'Start Editing' }).waitFor({ timeout: 10_000 });
  });
});
