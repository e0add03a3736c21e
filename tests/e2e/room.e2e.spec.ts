import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCREENSHOTS as SHOTS, useBrowserRoom, type SignedInUser } from '@siteflow/testing';

/** The planning room in a real Chromium, against the whole system as `npm start` runs it. */
describe('planning room in the browser', () => {
  const room = useBrowserRoom();
  const enter = (username: string, roomPath: string, viewport?: { width: number; height: number }) =>
    room().enter(username, roomPath, viewport);
  /** Entered by the first test, used by the next. */
  let alice: SignedInUser;
  let bob: SignedInUser;

  it("two users chat: each sees the other's message live, without reloading", async () => {
    alice = await enter('alice', '/admin/projects/1/planning');
    bob = await enter('bob', '/projects/1/planning');

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
