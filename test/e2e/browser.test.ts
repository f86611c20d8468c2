/**
 * The web demo end to end, in a real Chromium: two users on two pages of one server.
 * B sees A's like and comment arrive live; A is notified when B follows; after B's
 * connection drops and comes back, B's page shows the comments it missed, each once;
 * an upload goes through the media pipeline and plays; the bell reads the stored inbox and a
 * card's Block button ends the follow. Leaves a screenshot of the feed
 * in test-artifacts/feed.png.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { Tremolo } from '../../src/main.ts';
import { makeClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { buildWebIfStale, card, commentTexts, launchBrowser, liveCard, signUp, type BrowserUser } from './browser.ts';

describe('web demo in Chromium', () => {
  let server: Tremolo;
  let browser: Browser;
  let alice: BrowserUser;
  let bob: BrowserUser;
  let videoId: string;
  let scratch: string;

  before(async () => {
    buildWebIfStale();
    scratch = await tempDir('tremolo-e2e-');
    server = await startServer({ DATA_DIR: scratch });
    browser = await launchBrowser();
    alice = await signUp(browser, server.url, 'alice');
    const video = await alice.http.createVideo({ title: 'Sunset over the bay', description: 'first light', mediaUrl: `${server.url}/no-such-clip.mp4` });
    videoId = video.id;
    bob = await signUp(browser, server.url, 'bob');
    await alice.page.reload(); // her feed was empty when she signed up
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('serves the page with the SDK bundled, from the server itself', async () => {
    const html = await (await fetch(server.url)).text();
    const script = /src="(app\.js\?v=\w+)"/.exec(html)?.[1];
    assert.ok(script, 'index.html loads the bundle');
    const js = await fetch(new URL(script, server.url));
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    // the UI talks to the socket through the SDK: its wire event names are in the bundle
    assert.match(await js.text(), /video:watch/);
    assert.deepEqual(alice.errors, []);
  });

  it("B sees A's like and comment live, and A is told when B follows", async () => {
    const mine = await liveCard(alice, videoId);
    const theirs = await liveCard(bob, videoId);
    assert.equal(await theirs.getAttribute('data-likes'), '0');

    await mine.locator('button.like').click();
    await theirs.and(bob.page.locator('[data-likes="1"]')).waitFor();
    assert.equal(await theirs.locator('button.like .count').textContent(), '1');
    assert.equal(await theirs.locator('button.like').getAttribute('aria-pressed'), 'false', "A's like is not B's");

    await mine.locator('.comment-box input').fill('hello from alice');
    await mine.locator('.comment-box input').press('Enter');
    await theirs.locator('.comment .text', { hasText: 'hello from alice' }).waitFor();
    assert.match((await theirs.locator('.comment .who').first().textContent()) ?? '', new RegExp(`@${alice.handle}`));

    await theirs.locator('button.follow').click();
    await theirs.locator('button.follow', { hasText: 'Following' }).waitFor();
    await alice.page.locator('.bell .badge', { hasText: '1' }).waitFor();
    await alice.page.locator('.bell').click();
    await alice.page.locator('.notifications li[data-type="user:followed"]', { hasText: `@${bob.handle}` }).waitFor();
    await alice.page.keyboard.press('Escape');
    await alice.page.locator('.notif .popover').waitFor({ state: 'hidden' });
    assert.deepEqual((await alice.http.followers(alice.id)).items, [bob.id]);
  });

  it('after the connection drops and comes back, B shows the comments it missed, each once', async () => {
    const theirs = await liveCard(bob, videoId);
    const before = await commentTexts(theirs);

    await bob.context.setOffline(true);
    await bob.page.locator('body[data-connection="reconnecting"]').waitFor();
    const missed = ['missed one', 'missed two', 'missed three'];
    for (const text of missed) await alice.http.comment(videoId, text);
    await bob.context.setOffline(false);
    await bob.page.locator('body[data-connection="live"]').waitFor({ timeout: 15_000 });
    await theirs.locator('.comment .text', { hasText: 'missed three' }).waitFor();

    // and the live stream goes on after the recovery
    await alice.http.comment(videoId, 'back live');
    await theirs.locator('.comment .text', { hasText: 'back live' }).waitFor();

    assert.deepEqual(await commentTexts(theirs), [...before, ...missed, 'back live']);
    // the SDK delivered each comment once: no duplicate was dropped by the page either
    assert.equal(await theirs.getAttribute('data-comment-events'), String(before.length + missed.length + 1));
    assert.deepEqual(bob.errors, []);
  });

  it('an upload goes through the pipeline, shows its tags and plays', async () => {
    const clip = await makeClip(scratch, { seconds: 3, width: 640, height: 360 });
    const { page } = alice;
    await page.locator('.upload-button').click();
    await page.locator('dialog.upload input[name=file]').setInputFiles(clip);
    await page.locator('dialog.upload input[name=title]').fill('Test pattern');
    await page.locator('dialog.upload button[name=start]').click();
    await page.locator('dialog.upload[data-stage="ready"]').waitFor({ timeout: 90_000 });
    // the stage turns ready with the job event; the page then fetches the video and says so
    await page.locator('dialog.upload .result', { hasText: 'is live' }).waitFor();
    const status = await page.locator('dialog.upload .status').textContent();
    assert.equal(status, 'Ready');
    const tags = await page.locator('dialog.upload .tags li').allTextContents();
    await page.locator('dialog.upload button', { hasText: 'Close' }).click();

    const uploaded = page.locator('.card').first();
    const id = await uploaded.getAttribute('data-video-id');
    assert.ok(id && id !== videoId, 'the new video is first in the feed');
    const cardTags = await uploaded.locator('.tags li').allTextContents();
    const video = uploaded.locator('video');
    // (functions sent to the page must not name inner functions: tsx would wrap them in __name)
    await page.waitForFunction((el) => (el as HTMLVideoElement).readyState >= 2, await video.elementHandle(), { timeout: 30_000 });
    const t0 = await video.evaluate((el: HTMLVideoElement) => el.currentTime);
    await page.waitForFunction(([el, t]) => (el as HTMLVideoElement).currentTime > (t as number), [await video.elementHandle(), t0] as const, { timeout: 30_000 });
    assert.equal(await video.getAttribute('data-source'), 'hls.js', 'Chromium plays the HLS rendition through hls.js');

    // B comments on it; the screenshot shows a playing video with live state
    const onBob = card(bob, id);
    await bob.page.reload();
    await liveCard(bob, id);
    await onBob.locator('button.like').click();
    await onBob.locator('.comment-box input').fill('nice clip!');
    await onBob.locator('.comment-box input').press('Enter');
    await uploaded.locator('.comment .text', { hasText: 'nice clip!' }).waitFor();
    await uploaded.and(page.locator('[data-likes="1"][data-comments="1"]')).waitFor();

    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/feed.png', animations: 'disabled' });
    assert.deepEqual(alice.errors, []);

    // a 440 Hz tone is no speech: the speech detector's tag is certain for this clip, and a
    // job is 'ready' only once its video, tags included, can be read
    assert.ok(tags.includes('#no-speech'), `tags shown when the job was ready: [${tags.join(' ')}]`);
    assert.deepEqual(cardTags, tags, 'the card shows the same tags');
  });

  it("the bell reads the stored inbox after a reload; blocking from a card ends the follow", async () => {
    await alice.page.reload();
    await alice.page.locator('.bell').click();
    await alice.page.locator('.notifications li[data-type="user:followed"]', { hasText: `@${bob.handle}` }).waitFor();
    await alice.page.keyboard.press('Escape');
    assert.deepEqual((await alice.http.followers(alice.id)).items, [bob.id]);

    // For You never shows a video twice: alice's first video is on bob's Hot tab
    await bob.page.locator('[data-tab=hot]').click();
    await card(bob, videoId).scrollIntoViewIfNeeded();
    const theirs = await liveCard(bob, videoId);
    await theirs.locator('button.block').click();
    await theirs.and(bob.page.locator('[data-blocked="true"]')).waitFor();
    await theirs.locator('button.block', { hasText: 'Unblock' }).waitFor();
    assert.deepEqual((await alice.http.followers(alice.id)).items, [], 'the follow ended');
    assert.deepEqual((await bob.http.blocked()).items, [alice.id]);
    assert.deepEqual(bob.errors, []);
  });
});
