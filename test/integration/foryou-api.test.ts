/**
 * The For You feed over the wire: REST (`GET /v1/feed/foryou`) and the socket (`feed:foryou`),
 * signed in and anonymous, with the reasons the demo shows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import type { ForYouVideo, Page } from '../../src/protocol/model.ts';
import { liveClient, newUser, startServer } from '../helpers/server.ts';

const code = (e: unknown) => (e as { code: string }).code;
const REASON = /^(following|similar|trending|fresh|interest:.+)$/;

describe('For You over REST and the socket', () => {
  let server: Tremolo;
  const videoIds: string[] = [];
  before(async () => {
    server = await startServer({ LIVE_ALLOW_ANONYMOUS: 'true' });
    // several authors: a page holds at most FORYOU_MAX_PER_AUTHOR (2) videos of each
    const authors = await Promise.all(Array.from({ length: 8 }, () => newUser(server, 'fyauthor')));
    for (let i = 0; i < 40; i++) {
      const v = await authors[i % authors.length]!.http.createVideo({ title: `clip ${i}` });
      await server.engine.setTagging(v.id, { tags: [['cats', 'dogs', 'cars'][i % 3]!] });
      videoIds.push(v.id);
    }
    await server.engine.flushHotScores();
  });
  after(async () => {
    await server.close();
  });

  it('serves signed-in users, follows their likes and never repeats across pages', async () => {
    const reader = await newUser(server, 'fyreader');
    const first = await reader.http.forYou({ limit: 6 });
    assert.equal(first.items.length, 6);
    for (const v of first.items) assert.match(v.reason, REASON);
    assert.ok(first.items.every((v) => v.likedByMe === false), 'a signed-in page says what the reader likes');
    await reader.http.like(videoIds.find((id) => !first.items.some((v) => v.id === id) && videoIds.indexOf(id) % 3 === 2)!);
    const second = await reader.http.forYou({ limit: 6, cursor: first.nextCursor! });
    assert.ok(second.items.some((v) => v.reason === 'interest:cars'), second.items.map((v) => v.reason).join());
    assert.ok(!second.items.some((v) => first.items.some((w) => w.id === v.id)));
  });

  it('serves anonymous sessions; without a session or with a bad one it is a 400', async () => {
    const url = (q: string) => new URL(`/v1/feed/foryou?${q}`, server.url);
    const res = await fetch(url('limit=5&session=anon-session-0000001'));
    assert.equal(res.status, 200);
    const page = (await res.json()) as Page<ForYouVideo>;
    assert.equal(page.items.length, 5);
    for (const v of page.items) assert.match(v.reason, REASON);
    const next = (await (await fetch(url(`limit=5&session=anon-session-0000001&cursor=${page.nextCursor}`))).json()) as Page<ForYouVideo>;
    assert.ok(!next.items.some((v) => page.items.some((w) => w.id === v.id)));

    for (const q of ['limit=5', 'session=short', 'session=anon-session-0000001&cursor=%21%21', 'session=anon-session-0000001&limit=0']) {
      const bad = await fetch(url(q));
      assert.equal(bad.status, 400, q);
      const body = (await bad.json()) as { error: { code: string } };
      assert.ok(['E_VALIDATION', 'E_BAD_CURSOR'].includes(body.error.code), `${q}: ${body.error.code}`);
    }
  });

  it('serves the socket, signed in and anonymous, with failed acks for bad requests', async () => {
    const reader = await newUser(server, 'fysock');
    const signedIn = await liveClient(server, { token: reader.token });
    const anonymous = await liveClient(server);
    try {
      const mine = await signedIn.forYou({ limit: 4 });
      assert.equal(mine.items.length, 4);
      for (const v of mine.items) assert.match(v.reason, REASON);
      const more = await signedIn.forYou({ limit: 4, cursor: mine.nextCursor! });
      assert.ok(!more.items.some((v) => mine.items.some((w) => w.id === v.id)));

      const anon = await anonymous.forYou({ limit: 4, session: 'socket-session-000001' });
      assert.equal(anon.items.length, 4);
      await assert.rejects(anonymous.forYou({ limit: 4 }), (e) => code(e) === 'E_VALIDATION');
      await assert.rejects(anonymous.forYou({ limit: 500, session: 'socket-session-000001' }), (e) => code(e) === 'E_VALIDATION');
      await assert.rejects(anonymous.forYou({ session: 'socket-session-000001', cursor: 'nope' }), (e) => code(e) === 'E_BAD_CURSOR');
    } finally {
      signedIn.close();
      anonymous.close();
    }
  });
});
