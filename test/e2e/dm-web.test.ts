/**
 * The web demo's chat panel in a real Chromium: two users (two browser contexts) who follow
 * each other. One starts a conversation from the other's video card; the message arrives
 * live with an unread count, opening it sends the read receipt the sender sees, typing
 * shows on the other page, and what was sent while a page was offline shows after it
 * reconnects, in order, each once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { Tremolo } from '../../src/main.ts';
import { startServer } from '../helpers/server.ts';
import { buildWebIfStale, card, launchBrowser, signUp, type BrowserUser } from './browser.ts';

describe('web demo: direct messages', () => {
  let server: Tremolo;
  let browser: Browser;
  let alice: BrowserUser;
  let bob: BrowserUser;
  let videoId: string;

  before(async () => {
    buildWebIfStale();
    server = await startServer();
    browser = await launchBrowser();
    alice = await signUp(browser, server.url, 'dalice');
    videoId = (await alice.http.createVideo({ title: 'Say hi', mediaUrl: `${server.url}/no-such-clip.mp4` })).id;
    bob = await signUp(browser, server.url, 'dbob');
    // the default DM policy lets mutual follows message each other
    await alice.http.follow(bob.id);
    await bob.http.follow(alice.id);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a message sent from a video card arrives live on the other page, unread until opened', async () => {
    await card(bob, videoId).locator('.message-author').click();
    const bobChat = bob.page.locator('.chat');
    await bobChat.locator('.composer input').fill('hello alice');
    await bobChat.locator('.composer input').press('Enter');
    await bobChat.locator('.message.mine .text', { hasText: 'hello alice' }).waitFor();
    assert.equal(await bobChat.locator('.composer input').inputValue(), '', 'the composer clears once the send is acknowledged');

    const row = alice.page.locator('.chat .conversation[data-unread="1"]');
    await alice.page.locator('.chat-button .badge:not([hidden])', { hasText: '1' }).waitFor({ timeout: 15_000 });
    await alice.page.locator('.chat-button').click();
    await row.waitFor();
    await row.click();
    await alice.page.locator('.chat .message:not(.mine) .text', { hasText: 'hello alice' }).waitFor();
    await alice.page.locator('.chat .conversation[data-unread="0"]').waitFor();
  });

  it('the sender sees the read receipt', async () => {
    await bob.page.locator('.chat .message.mine .receipt[data-state="read"]').waitFor({ timeout: 15_000 });
    assert.equal(await bob.page.locator('.chat .message.mine .receipt').textContent(), 'Read');
  });

  it('typing on one page shows on the other, and a reply arrives in order', async () => {
    const aliceInput = alice.page.locator('.chat .composer input');
    await aliceInput.pressSequentially('hi b');
    const typing = bob.page.locator('.chat .typing:not([hidden])');
    await typing.waitFor({ timeout: 15_000 });
    assert.match((await typing.textContent()) ?? '', new RegExp(`@${alice.handle} is typing`));
    await aliceInput.pressSequentially('ob');
    await aliceInput.press('Enter');
    const texts = bob.page.locator('.chat .message .text');
    await bob.page.locator('.chat .message:not(.mine) .text', { hasText: 'hi bob' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(await texts.allTextContents(), ['hello alice', 'hi bob']);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });

  it('after the connection drops and comes back, the page shows the messages it missed, in order, each once', async () => {
    const conversationId = (await bob.http.conversations()).items[0]!.id;
    await bob.context.setOffline(true);
    await bob.page.locator('body[data-connection="reconnecting"]').waitFor();
    for (const text of ['missed one', 'missed two']) await alice.http.sendMessage({ conversationId, text, idempotencyKey: `${text}-${conversationId}` });
    await bob.context.setOffline(false);
    await bob.page.locator('body[data-connection="live"]').waitFor({ timeout: 15_000 });
    await bob.page.locator('.chat .message .text', { hasText: 'missed two' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(await bob.page.locator('.chat .message .text').allTextContents(), ['hello alice', 'hi bob', 'missed one', 'missed two']);
    assert.deepEqual(bob.errors, []);
  });
});
