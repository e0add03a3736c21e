import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS as SHOTS, useBrowserRoom, type SignedInUser } from '@siteflow/testing';

/** The checklist template edits in the browser: an admin renames and reorders, a customer watches. */
describe('checklist template edits in the browser', () => {
  const room = useBrowserRoom();
  let alice: SignedInUser;
  let bob: SignedInUser;

  const titles = (u: SignedInUser) => u.page.locator('.checklist-item .checklist-title').allTextContents();

  beforeAll(async () => {
    alice = await room().enter('alice', '/admin/projects/1/planning');
    bob = await room().enter('bob', '/projects/1/planning');
  });

  it('the admin renames and moves items; the customer sees both live and has no such controls', async () => {
    await expect.poll(() => titles(alice).then((t) => t.length), { timeout: 10_000 }).toBeGreaterThan(2);
    const before = await titles(alice);
    await expect.poll(() => titles(bob), { timeout: 10_000 }).toEqual(before);
    const [first, second, ...rest] = before as [string, string, ...string[]];

    // The customer sees the list but none of the template controls.
    expect(await bob.page.getByRole('button', { name: /^(Edit|Move|Remove) / }).count()).toBe(0);
    expect(await bob.page.locator('.checklist-actions').count()).toBe(0);

    // Rename: the input opens prefilled; Escape cancels; an empty title is refused in place.
    await alice.page.getByRole('button', { name: `Edit ${first}` }).click();
    const input = alice.page.getByRole('textbox', { name: `New title for ${first}` });
    expect(await input.inputValue()).toBe(first);
    await input.fill('changed my mind');
    await input.press('Escape');
    expect(await input.count()).toBe(0);
    expect(await alice.page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(`Edit ${first}`);
    expect((await titles(alice))[0]).toBe(first);

    await alice.page.keyboard.press('Enter');
    await input.fill('   ');
    await input.press('Enter');
    await alice.page.locator('.checklist-edit .inline-error', { hasText: 'Give the item a title.' }).waitFor();
    expect(await input.isVisible()).toBe(true);

    const renamed = 'Agree on the tech spec (renamed live)';
    await input.fill(renamed);
    await input.press('Enter');
    await expect.poll(() => titles(bob), { timeout: 10_000 }).toEqual([renamed, second, ...rest]);
    expect(await titles(alice)).toEqual([renamed, second, ...rest]);

    // Move: the top item cannot go up; moving it down twice by keyboard keeps the focus on it.
    expect(await alice.page.getByRole('button', { name: `Move ${renamed} up` }).isDisabled()).toBe(true);
    const down = alice.page.getByRole('button', { name: `Move ${renamed} down` });
    await down.focus();
    await alice.page.keyboard.press('Enter');
    await expect.poll(() => titles(bob), { timeout: 10_000 }).toEqual([second, renamed, ...rest]);
    await expect
      .poll(() => alice.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), { timeout: 10_000 })
      .toBe(`Move ${renamed} down`);
    await alice.page.keyboard.press('Enter');
    const [third, ...after] = rest as [string, ...string[]];
    await expect.poll(() => titles(bob), { timeout: 10_000 }).toEqual([second, third, renamed, ...after]);

    // And back up with the mouse.
    await alice.page.getByRole('button', { name: `Move ${renamed} up` }).click();
    await expect.poll(() => titles(bob), { timeout: 10_000 }).toEqual([second, renamed, third, ...after]);
    expect(await titles(alice)).toEqual([second, renamed, third, ...after]);
    await bob.page.locator('#checklist').screenshot({ path: path.join(SHOTS, 'checklist-customer.png') });

    // A refusal by the server reads as a sentence and keeps what was typed, ready to save again.
    await room().stack.kill('checklist');
    await alice.page.getByRole('button', { name: `Edit ${renamed}` }).click();
    const again = alice.page.getByRole('textbox', { name: `New title for ${renamed}` });
    const final = 'Agree on the technical specification (v2)';
    await again.fill(final);
    await again.press('Enter');
    await alice.page
      .locator('.checklist-edit [role="alert"]', { hasText: 'The item was not renamed: checklist service is not running' })
      .waitFor({ timeout: 10_000 });
    expect(await again.inputValue()).toBe(final);
    await alice.page.locator('#checklist').screenshot({ path: path.join(SHOTS, 'checklist-edit-refused.png') });
    await room().stack.start('checklist');
    await expect
      .poll(
        async () => {
          if (await again.isVisible()) await again.press('Enter');
          return titles(bob);
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toEqual([second, final, third, ...after]);
    expect(await again.count()).toBe(0);

    // Still nothing to press on the customer's side, and nobody saw an error.
    expect(await bob.page.getByRole('button', { name: /^(Edit|Move|Remove) / }).count()).toBe(0);
    for (const u of [alice, bob]) {
      expect(u.errors).toEqual([]);
      expect(await u.page.locator('.checklist-panel [role="alert"]').count()).toBe(0);
    }
  });
});
