import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS as SHOTS, useBrowserRoom, type SignedInUser } from '@siteflow/testing';

/**
 * The planning room's user flows (docs/architecture.md, "The room"), each user in a browser context of
 * their own, against the system started as under `npm start` (gateway serving web/dist).
 */
describe('planning room flows in the browser', () => {
  const room = useBrowserRoom();
  let alice: SignedInUser;
  let bob: SignedInUser;

  const enter = (username: string, roomPath: string, viewport?: { width: number; height: number }) =>
    room().enter(username, roomPath, viewport);
  /** Opens a document from the list, going back to the list first when a document is open. */
  const openDocument = async (u: SignedInUser, title: string) => {
    const back = u.page.getByRole('button', { name: /All documents/ });
    if (await back.isVisible()) await back.click();
    await u.page.locator('.document-open', { hasText: title }).click();
    await u.page.locator('.document-view-title', { hasText: title }).waitFor();
  };

  beforeAll(async () => {
    alice = await enter('alice', '/admin/projects/1/planning');
    bob = await enter('bob', '/projects/1/planning');
  });

  it('two users see each other online (two .user-avatar each)', async () => {
    for (const u of [alice, bob]) await expect.poll(() => u.page.locator('.user-avatar').count(), { timeout: 10_000 }).toBe(2);
  });

  it('user 1 starts editing; user 2 sees .locked-banner and a disabled Start Editing', async () => {
    await openDocument(alice, 'Timeline');
    await alice.page.getByRole('button', { name: 'Start Editing' }).click();
    await alice.page.getByLabel('Content (Markdown)').waitFor();
    await openDocument(bob, 'Timeline');
    await expect
      .poll(() => bob.page.locator('.locked-banner').textContent(), { timeout: 10_000 })
      .toContain('alice is currently editing this document');
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
    await alice.page
      .getByLabel('Content (Markdown)')
      .fill('# Timeline\n\n<img src=x onerror=alert(1)>\n\n[click me](javascript:alert(2))\n');
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

  it("a checklist toggle moves the progress bar on the other user's screen", async () => {
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

    await room().stack.kill('gateway', 'SIGKILL');
    for (const u of [alice, bob]) {
      await expect.poll(() => u.page.getByTestId('connection-state').getAttribute('data-state'), { timeout: 10_000 }).not.toBe('connected');
    }
    await room().stack.start('gateway');
    for (const u of [alice, bob]) {
      await expect.poll(() => u.page.getByTestId('connection-state').getAttribute('data-state'), { timeout: 30_000 }).toBe('connected');
      await expect.poll(() => u.page.locator('.user-avatar').count(), { timeout: 20_000 }).toBe(2);
    }
    // Alice's unsaved text survived; the lock is hers again (re-taken by her editor after rejoin).
    await expect
      .poll(() => alice.page.getByLabel('Content (Markdown)').inputValue(), { timeout: 20_000 })
      .toContain('unsaved words typed before the outage');
    await openDocument(bob, 'Budget');
    await expect.poll(() => bob.page.locator('.locked-banner').textContent(), { timeout: 20_000 }).toContain('alice is currently editing');
  });
});
