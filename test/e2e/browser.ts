/**
 * Helpers for driving the web demo in Debian's Chromium through playwright-core: one
 * browser, one context (fresh storage) per user, signed up through the page's own form.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { HttpClient } from '../../src/client/http-client.ts';

/** Debian package `chromium`; CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Builds web/dist when it is missing or older than its sources (what `npm start` does too). */
export function buildWebIfStale(): void {
  const res = spawnSync(process.execPath, ['scripts/build-web.mjs', '--if-stale'], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error(`scripts/build-web.mjs failed (${res.status})`);
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
  }
  // playwright gives each launch a fresh temporary profile directory and removes it on close
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

export interface BrowserUser {
  context: BrowserContext;
  page: Page;
  handle: string;
  id: string;
  /** The same account over REST, for setting the scene from the test. */
  http: HttpClient;
  /** Page errors (uncaught exceptions, Content-Security-Policy violations): a test can assert there were none. */
  errors: string[];
}

let seq = 0;
export const PASSWORD = 'correct horse battery';

/** A new context whose user signs up through the page's form. */
export async function signUp(browser: Browser, baseUrl: string, prefix: string): Promise<BrowserUser> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // the page runs under a strict CSP (security-headers.ts): anything it blocks is a bug
  page.on('console', (msg) => {
    if (/Content.Security.Policy/i.test(msg.text())) errors.push(msg.text());
  });
  const handle = `${prefix}${process.pid % 10000}x${++seq}`;
  await page.goto(baseUrl);
  await page.fill('input[name=handle]', handle);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[name=register]');
  await page.locator('.topbar .me').waitFor();
  const http = new HttpClient(baseUrl);
  const session = await http.login(handle, PASSWORD);
  return { context, page, handle, id: session.user.id, http, errors };
}

export function card(user: BrowserUser, videoId: string): Locator {
  return user.page.locator(`.card[data-video-id="${videoId}"]`);
}

/** Waits until the card is on the page and watching its video live. */
export async function liveCard(user: BrowserUser, videoId: string): Promise<Locator> {
  const c = card(user, videoId);
  await c.and(user.page.locator('[data-live="on"]')).waitFor({ timeout: 15_000 });
  return c;
}

/** Texts of the comments a card shows, in order. */
export function commentTexts(c: Locator): Promise<string[]> {
  return c.locator('.comment .text').allTextContents();
}
