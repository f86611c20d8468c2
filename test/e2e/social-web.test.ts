/**
 * The web demo's threads, comment likes, pin and favorites in a real Chromium: two users on
 * two pages of one server, each seeing the other's actions live.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { Tremolo } from '../../src/main.ts';
import { startServer } from '../helpers/server.ts';
import { buildWebIfStale, card, launchBrowser, liveCard, signUp, type BrowserUser } from './browser.ts';

describe('web demo: threads, comment likes, pin, favorites', () => {
  let server: Tremolo;
  let browser: Browser;
  let alice: BrowserUser;
  let bob: BrowserUser;
  let videoId: string;
  let commentId: string;

  before(async () => {
    buildWebIfStale();
    server = await startServer({ LIVE_COUNTER_INTERVAL_MS: '50' });
    browser = await launchBrowser();
    alice = await signUp(browser, server.url, 'salice');
    const video = await alice.http.createVideo({ title: 'Threads', mediaUrl: `${server.url}/no-such-clip.mp4` });
    videoId = video.id;
    commentId = (await alice.http.comment(videoId, 'what do you think?')).id;
    bob = await signUp(browser, server.url, 'sbob');
    await alice.page.reload();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a comment like shows live on the other page, with the exact count', async () => {
    const theirs = await liveCard(bob, videoId);
    const mine = await liveCard(alice, videoId);
    const row = (c: typeof mine) => c.locator(`.comment[data-comment-id="${commentId}"]`);
    await row(theirs).waitFor();
    await row(theirs).locator('> .comment-actions > .comment-like').click();
    await row(theirs).and(bob.page.locator('[data-likes="1"]')).waitFor();
    await row(mine).and(alice.page.locator('[data-likes="1"]')).waitFor({ timeout: 10_000 });
    assert.equal(await row(theirs).locator('> .comment-actions > .comment-like').getAttribute('aria-pressed'), 'true');
  });

  it('a reply goes under its thread; the other page offers "view 1 reply"', async () => {
    const theirs = card(bob, videoId);
    const mine = card(alice, videoId);
    await theirs.locator(`.comment[data-comment-id="${commentId}"] > .comment-actions > .comment-reply`).click();
    await theirs.locator('.reply-note').waitFor();
    await theirs.locator('.comment-box input').fill('I love it');
    await theirs.locator('.comment-box input').press('Enter');
    await theirs.locator(`.comment[data-comment-id="${commentId}"] .replies .text`, { hasText: 'I love it' }).waitFor();
    const more = mine.locator(`.comment[data-comment-id="${commentId}"] > .comment-actions > .view-replies`);
    await more.and(alice.page.locator(':not([hidden])')).waitFor({ timeout: 10_000 });
    assert.equal(await more.textContent(), 'View 1 reply');
    await more.click();
    await mine.locator(`.comment[data-comment-id="${commentId}"] .replies .text`, { hasText: 'I love it' }).waitFor();
  });

  it("the owner pins a comment and the other page marks it; a favorite counts and lists", async () => {
    const mine = card(alice, videoId);
    const theirs = card(bob, videoId);
    await mine.locator(`.comment[data-comment-id="${commentId}"] > .comment-actions > .comment-pin`).click();
    await theirs.locator(`.comment.pinned[data-comment-id="${commentId}"]`).waitFor({ timeout: 10_000 });
    assert.equal(await theirs.locator('.comment-pin').count(), 0, 'only the owner gets pin buttons');

    await theirs.locator('button.favorite').click();
    await theirs.and(bob.page.locator('[data-favorites="1"]')).waitFor();
    assert.equal((await bob.http.favorites(bob.id)).items[0]?.id, videoId);
    await bob.page.locator('[data-tab=favorites]').click();
    await bob.page.locator(`[data-feed=favorites] .card[data-video-id="${videoId}"]`).waitFor();
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
