import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Browser } from 'playwright-core';
import { enterRoom, launchBrowser, type SignedInUser } from './browser.js';
import { REPO_ROOT, type Stack } from './stack.js';
import { useStack } from './use-stack.js';

/** The built web app the gateway serves in browser tests (`npm run build -w web`). */
export const WEB_DIST = path.join(REPO_ROOT, 'web', 'dist');
/** Where browser tests write their screenshots (git-ignored). */
export const SCREENSHOTS = path.join(REPO_ROOT, 'test-results', 'screenshots');

export interface BrowserRoom {
  stack: Stack;
  browser: Browser;
  /** Signs a user in (a browser context of their own) and opens a room; closed after the file. */
  enter(username: string, roomPath: string, viewport?: { width: number; height: number }): Promise<SignedInUser>;
}

/**
 * The lifecycle of a browser test file: the whole system as `npm start` runs it (the gateway
 * serving web/dist) and one headless Chromium, started before all tests; every user entered and
 * the rest stopped after them. Returns a getter, like `useStack`.
 */
export function useBrowserRoom(): () => BrowserRoom {
  const stack = useStack({ env: { WEB_DIST } });
  let browser: Browser | undefined;
  const users: SignedInUser[] = [];
  beforeAll(async () => {
    if (!existsSync(path.join(WEB_DIST, 'index.html')))
      throw new Error('web/dist is missing: build the web app first (npm run build -w web)');
    await mkdir(SCREENSHOTS, { recursive: true });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const u of users.splice(0)) await u.context.close().catch(() => undefined);
    await browser?.close();
  });
  const room: BrowserRoom = {
    get stack() {
      return stack();
    },
    get browser() {
      if (!browser) throw new Error('the browser starts in beforeAll');
      return browser;
    },
    async enter(username, roomPath, viewport) {
      const u = await enterRoom(room.browser, stack().gatewayUrl, username, roomPath, viewport ? { viewport } : {});
      users.push(u);
      return u;
    },
  };
  return () => room;
}
