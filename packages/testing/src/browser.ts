import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium; tools never download a browser of their own here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launches headless Chromium with the flags this machine needs (no sandbox as root, no background network). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: install Debian's (apt-get install -y --no-install-recommends chromium) or set CHROMIUM_PATH`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

export interface SignedInUser {
  context: BrowserContext;
  page: Page;
  /** alert/confirm/prompt dialogs the page opened: an XSS test expects none. */
  dialogs: string[];
  /** Uncaught page errors. */
  errors: string[];
}

/** A user in a browser context of their own, signed in through the app's own sign-in page. */
export async function signIn(
  browser: Browser,
  baseUrl: string,
  username: string,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<SignedInUser> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport });
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/login');
  await page
    .getByRole('button', { name: new RegExp(`^\\W*${username}\\b`, 'i') })
    .first()
    .click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  return { context, page, dialogs, errors };
}

/** Signs a user in and opens a planning room, resolving once it is connected and shows the project. */
export async function enterRoom(
  browser: Browser,
  baseUrl: string,
  username: string,
  roomPath: string,
  opts: { viewport?: { width: number; height: number }; projectName?: string } = {},
): Promise<SignedInUser> {
  const u = await signIn(browser, baseUrl, username, opts.viewport);
  await u.page.goto(roomPath);
  await u.page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 15_000 });
  await u.page.getByRole('heading', { name: opts.projectName ?? 'Demo project' }).waitFor({ timeout: 15_000 });
  return u;
}
