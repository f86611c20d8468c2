import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TagTokenizer } from '../../src/domain/tags.ts';
import type { Tremolo } from '../../src/main.ts';
import type { TagInfo } from '../../src/protocol/model.ts';
import { keywordTags } from '../../src/workers/tasks/tag/keywords.ts';
import { newUser, startServer } from '../helpers/server.ts';

const code = (e: unknown) => (e as { code: string }).code;

describe('REST API', () => {
  let server: Tremolo;
  before(async () => {
    // a low push threshold so the test sees both fan-out paths
    server = await startServer({ FANOUT_PUSH_MAX_FOLLOWERS: '2', FANOUT_BATCH: '2' });
  });
  after(async () => {
    await server.close();
  });

  it('publishes, reads, likes idempotently and deletes a video', async () => {
    const alice = await newUser(server, 'alice');
    const bob = await newUser(server, 'bob');
    const v = await alice.http.createVideo({ title: '  first  ', description: 'hello', mediaUrl: 'https://cdn.example/v.mp4' });
    assert.equal(v.title, 'first');
    assert.equal(v.media.external, 'https://cdn.example/v.mp4');
    assert.deepEqual(v.counters, { likes: 0, comments: 0, views: 0, version: 0 });

    const l1 = await bob.http.like(v.id);
    const l2 = await bob.http.like(v.id);
    assert.equal(l1.changed, true);
    assert.equal(l2.changed, false);
    assert.equal(l2.counters.likes, 1);
    assert.equal((await bob.http.getVideo(v.id)).likedByMe, true);
    assert.equal((await alice.http.getVideo(v.id)).likedByMe, false);
    const u = await bob.http.unlike(v.id);
    assert.equal(u.counters.likes, 0);
    assert.ok(u.counters.version > l1.counters.version);

    await assert.rejects(bob.http.deleteVideo(v.id), (e) => code(e) === 'E_FORBIDDEN');
    await alice.http.deleteVideo(v.id);
    await assert.rejects(bob.http.getVideo(v.id), (e) => code(e) === 'E_VIDEO_NOT_FOUND');
    await assert.rejects(bob.http.like(v.id), (e) => code(e) === 'E_VIDEO_NOT_FOUND');
  });

  it('validates titles and ids with clear codes', async () => {
    const alice = await newUser(server, 'val');
    await assert.rejects(alice.http.createVideo({ title: '   ' }), (e) => code(e) === 'E_VALIDATION');
    await assert.rejects(alice.http.createVideo({ title: 'x'.repeat(151) }), (e) => code(e) === 'E_VALIDATION');
    await assert.rejects(alice.http.getVideo('not-an-id'), (e) => code(e) === 'E_VALIDATION');
    await assert.rejects(alice.http.getVideo('0000000000000'), (e) => code(e) === 'E_VIDEO_NOT_FOUND');
    // as with video ids: a malformed upload id is invalid, a well-formed one nobody has is not found
    await assert.rejects(alice.http.createVideo({ title: 't', uploadId: 'nope' }), (e) => code(e) === 'E_VALIDATION');
    await assert.rejects(alice.http.createVideo({ title: 't', uploadId: `${alice.id}-${'0'.repeat(32)}` }), (e) => code(e) === 'E_UPLOAD_NOT_FOUND');
    await assert.rejects(alice.http.comments('0000000000000', { cursor: 'garbage!' }), (e) => code(e) === 'E_BAD_CURSOR' || code(e) === 'E_VIDEO_NOT_FOUND');
  });

  it('comments: idempotent add, replies, delete rights, paging both ways', async () => {
    const owner = await newUser(server, 'owner');
    const fan = await newUser(server, 'fan');
    const other = await newUser(server, 'other');
    const v = await owner.http.createVideo({ title: 'talk' });
    const c1 = await fan.http.comment(v.id, '\u0007 first\u202E ', { idempotencyKey: 'k-1' });
    assert.equal(c1.text, 'first', 'trimmed, control characters removed');
    const again = await fan.http.comment(v.id, 'first (retried)', { idempotencyKey: 'k-1' });
    assert.deepEqual(again, c1);
    const reply = await owner.http.comment(v.id, 'thanks', { replyTo: c1.id });
    assert.equal(reply.replyTo, c1.id);
    await assert.rejects(owner.http.comment(v.id, 'x', { replyTo: `${v.id}-0000000000000` }), (e) => code(e) === 'E_REPLY_TARGET');
    await assert.rejects(owner.http.comment(v.id, 'x'.repeat(501)), (e) => code(e) === 'E_VALIDATION');
    for (let i = 0; i < 3; i++) await other.http.comment(v.id, `n${i}`);
    const newest = await other.http.comments(v.id, { limit: 2 });
    assert.deepEqual(
      newest.items.map((c) => c.text),
      ['n2', 'n1'],
    );
    const next = await other.http.comments(v.id, { limit: 10, cursor: newest.nextCursor });
    assert.deepEqual(
      next.items.map((c) => c.text),
      ['n0', 'thanks', 'first'],
    );
    assert.equal(next.nextCursor, undefined);
    const oldest = await other.http.comments(v.id, { limit: 2, order: 'oldest' });
    assert.deepEqual(
      oldest.items.map((c) => c.text),
      ['first', 'thanks'],
    );
    await assert.rejects(other.http.deleteComment(c1.id), (e) => code(e) === 'E_FORBIDDEN');
    await owner.http.deleteComment(c1.id); // the video's owner may
    await assert.rejects(fan.http.deleteComment(reply.id), (e) => code(e) === 'E_FORBIDDEN');
    await assert.rejects(fan.http.deleteComment(c1.id), (e) => code(e) === 'E_COMMENT_NOT_FOUND');
    await assert.rejects(fan.http.deleteComment('garbage'), (e) => code(e) === 'E_VALIDATION');
    assert.equal((await other.http.getVideo(v.id)).counters.comments, 4);
  });

  it('follows with exact counts and paged follower lists', async () => {
    const star = await newUser(server, 'star');
    const fans = [await newUser(server, 'f'), await newUser(server, 'f'), await newUser(server, 'f')];
    for (const f of fans) assert.deepEqual(await f.http.follow(star.id), { changed: true });
    assert.deepEqual(await fans[0]!.http.follow(star.id), { changed: false });
    await assert.rejects(star.http.follow(star.id), (e) => code(e) === 'E_SELF_FOLLOW');
    await assert.rejects(star.http.follow('0000000000000'), (e) => code(e) === 'E_USER_NOT_FOUND');
    const profile = await star.http.user(star.id);
    assert.equal(profile.followers, 3);
    const p1 = await star.http.followers(star.id, { limit: 2 });
    const p2 = await star.http.followers(star.id, { limit: 2, cursor: p1.nextCursor });
    assert.deepEqual([...p1.items, ...p2.items], fans.map((f) => f.id));
    assert.deepEqual((await star.http.following(fans[0]!.id)).items, [star.id]);
    await fans[0]!.http.unfollow(star.id);
    assert.equal((await star.http.user(star.id)).followers, 2);
  });

  it('feeds: pushed and pulled authors merge newest first without gaps or duplicates', async () => {
    const reader = await newUser(server, 'reader');
    const small = await newUser(server, 'small'); // 1 follower: pushes
    const big = await newUser(server, 'big'); // 3 followers > threshold 2: pulled
    await reader.http.follow(small.id);
    await reader.http.follow(big.id);
    for (let i = 0; i < 2; i++) await (await newUser(server, 'extra')).http.follow(big.id);
    const posted: string[] = [];
    for (let i = 0; i < 7; i++) {
      const author = i % 2 === 0 ? small : big;
      posted.push((await author.http.createVideo({ title: `post ${i}` })).id);
    }
    await server.engine.feed.idle();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await reader.http.feed({ limit: 3, cursor });
      seen.push(...page.items.map((v) => v.id));
      cursor = page.nextCursor;
      if (pages++ === 0) {
        // a post arriving between pages does not shift later pages
        await small.http.createVideo({ title: 'late' });
        await server.engine.feed.idle();
      }
    } while (cursor);
    assert.deepEqual(seen, [...posted].reverse());

    // unfollowing hides the author's posts; deleting hides a post
    await reader.http.unfollow(big.id);
    await small.http.deleteVideo(posted[0]!);
    const after = await reader.http.feed({ limit: 50 });
    const ids = after.items.map((v) => v.id);
    assert.ok(!ids.includes(posted[0]!));
    assert.ok(!ids.includes(posted[1]!));
    assert.ok(ids.includes(posted[2]!));
    assert.equal((await reader.http.user(small.id)).videos, 4);
    const mine = await reader.http.userVideos(small.id, { limit: 2 });
    assert.equal(mine.items.length, 2);
    assert.ok(mine.nextCursor);
  });

  it('a feed page read again shows every change to its videos since: counters, likedByMe, tags, deletes, follows', async () => {
    const reader = await newUser(server, 'agr');
    const author = await newUser(server, 'aga');
    const other = await newUser(server, 'ago');
    await reader.http.follow(author.id);
    const [v1, v2, v3] = [
      await author.http.createVideo({ title: 'one' }),
      await author.http.createVideo({ title: 'two' }),
      await author.http.createVideo({ title: 'three' }),
    ];
    await server.engine.feed.idle();
    const read = async () => new Map((await reader.http.feed()).items.map((v) => [v.id, v]));
    const first = await read();
    assert.deepEqual([...first.keys()], [v3.id, v2.id, v1.id]);
    assert.deepEqual(await read(), first, 'a repeat read answers the same');
    assert.deepEqual(first.get(v1.id), await reader.http.getVideo(v1.id), 'a feed item is the video as GET /v1/videos/:id shows it');

    await other.http.like(v1.id);
    await reader.http.like(v2.id);
    await other.http.comment(v3.id, 'hello');
    let now = await read();
    assert.equal(now.get(v1.id)?.counters.likes, 1);
    assert.equal(now.get(v1.id)?.likedByMe, false);
    assert.equal(now.get(v2.id)?.counters.likes, 1);
    assert.equal(now.get(v2.id)?.likedByMe, true);
    assert.equal(now.get(v3.id)?.counters.comments, 1);

    await server.engine.setTagging(v1.id, { tags: ['cats'], ocr: [], speechRatio: 0 });
    await author.http.deleteVideo(v3.id);
    now = await read();
    assert.deepEqual(now.get(v1.id)?.tagging?.tags, ['cats']);
    assert.deepEqual([...now.keys()], [v2.id, v1.id]);

    await reader.http.unfollow(author.id);
    assert.equal((await read()).size, 0);
  });

  it('hot feed ranks by engagement and pages by offset', async () => {
    const author = await newUser(server, 'hot');
    const likers = [await newUser(server, 'l'), await newUser(server, 'l'), await newUser(server, 'l')];
    const cold = await author.http.createVideo({ title: 'cold' });
    const hot = await author.http.createVideo({ title: 'hot' });
    for (const l of likers) await l.http.like(hot.id);
    await likers[0]!.http.comment(hot.id, 'wow');
    await server.engine.flushHotScores();
    const page = await author.http.hot({ limit: 100 });
    const ids = page.items.map((v) => v.id);
    assert.ok(ids.indexOf(hot.id) < ids.indexOf(cold.id), 'the liked video ranks above the cold one');
    const p1 = await author.http.hot({ limit: 1 });
    const p2 = await author.http.hot({ limit: 1, cursor: p1.nextCursor });
    assert.notEqual(p1.items[0]!.id, p2.items[0]!.id);
  });

  describe('tags a person can use', () => {
    const tokenizer = new TagTokenizer();
    /** Tags the real keyword tagger gives for these on-screen lines. */
    const tagsOf = (...texts: string[]): string[] =>
      keywordTags(texts.map((text) => ({ text, confidence: 0.99, box: [[0, 0], [1, 0], [1, 1], [0, 1]] })), tokenizer);

    it('finds videos by tag the way people type tags: #Travel, TRAVEL, a word of a phrase, the whole phrase', async () => {
      const author = await newUser(server, 'tagt');
      const reader = await newUser(server, 'tagr');
      const trip = await author.http.createVideo({ title: 'trip' });
      const food = await author.http.createVideo({ title: 'food' });
      await server.engine.setTagging(trip.id, { tags: tagsOf('#Travel 美食探店第3期', 'Game Over') });
      await server.engine.setTagging(food.id, { tags: tagsOf('美食 第3期') });
      // tagged with the caption whole but not its words, and with a label that is no word
      const whole = await author.http.createVideo({ title: 'whole' });
      await server.engine.setTagging(whole.id, { tags: ['#美食探店第3期', 'no-audio'] });
      const found = async (q: string): Promise<string[]> => (await reader.http.byTag(q)).items.map((v) => v.id);

      const shown = (await reader.http.getVideo(trip.id)).tagging?.tags ?? [];
      assert.ok(shown.includes('travel') && shown.every((t) => !t.startsWith('#')), `stored without #: ${shown.join(' ')}`);
      for (const q of ['travel', '#Travel', 'TRAVEL', '＃ｔｒａｖｅｌ']) assert.deepEqual(await found(q), [trip.id], q);
      for (const q of ['探店', 'game', 'over', 'Game Over', '#game', '美食探店']) assert.deepEqual(await found(q), [trip.id], q);
      for (const q of ['美食', '第3期', '第３期']) assert.deepEqual(await found(q), [food.id, trip.id], q);
      assert.deepEqual(await found('第3期 美食'), [food.id, trip.id], 'every word, in any order');
      for (const q of ['美食探店第3期', '#美食探店第３期']) assert.deepEqual(await found(q), [whole.id, trip.id], `the tag whole or all its words: ${q}`);
      for (const q of ['no-audio', 'NO-AUDIO']) assert.deepEqual(await found(q), [whole.id], q);
      assert.deepEqual(await found('the'), [], 'a function word alone finds nothing, without an error');
      await assert.rejects(reader.http.byTag('#'), (e) => code(e) === 'E_VALIDATION');
    });

    it('a search for several words pages through every match', async () => {
      const author = await newUser(server, 'tagp');
      const reader = await newUser(server, 'tagq');
      const both: string[] = [];
      for (let i = 0; i < 7; i++) {
        const v = await author.http.createVideo({ title: `clip ${i}` });
        // every other video carries both words; the rest only the longer one
        await server.engine.setTagging(v.id, { tags: tagsOf(i % 2 === 0 ? 'Sunset Timelapse' : 'Timelapse') });
        if (i % 2 === 0) both.unshift(v.id);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await reader.http.byTag('sunset timelapse', { limit: 2, ...(cursor ? { cursor } : {}) });
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((v) => v.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, both);
    });

    it('a search for several words does bounded work: a short page whose cursor goes on', async () => {
      const author = await newUser(server, 'tagw');
      const match = await author.http.createVideo({ title: 'the one' });
      await server.engine.setTagging(match.id, { tags: ['sunrise', 'aerial'] });
      // 520 newer videos carry the longer word only: more than one request looks at
      for (let i = 0; i < 520; i++) {
        const v = await server.engine.createVideo(author.id, { title: `other ${i}` });
        await server.engine.setTagging(v.id, { tags: ['sunrise'] });
      }
      const first = await author.http.byTag('sunrise aerial', { limit: 5 });
      assert.deepEqual(first.items, [], 'nothing among the first 500 looked at');
      assert.ok(first.nextCursor, 'but the walk goes on');
      const second = await author.http.byTag('sunrise aerial', { limit: 5, cursor: first.nextCursor });
      assert.deepEqual(second.items.map((v) => v.id), [match.id]);
      assert.equal(second.nextCursor, undefined);
    });

    it('a video keeps its OCR boxes and speech segments, capped in number', async () => {
      const author = await newUser(server, 'tagb');
      const v = await author.http.createVideo({ title: 'boxes' });
      const box: NonNullable<TagInfo['ocr']>[number]['box'] = [[10, 20], [110, 22], [109, 60], [9, 58]];
      const segments = Array.from({ length: 1000 }, (_, i) => ({ startS: i, endS: i + 0.5 }));
      const ocr = Array.from({ length: 80 }, (_, i) => ({ text: `line ${i}`, confidence: 0.9, box }));
      await server.engine.setTagging(v.id, { tags: ['boxes'], ocr, frame: { width: 640, height: 360 }, speechRatio: 0.4, speechSegments: segments });
      const got = (await author.http.getVideo(v.id)).tagging;
      assert.deepEqual(got?.ocr?.[0], { text: 'line 0', confidence: 0.9, box });
      assert.deepEqual(got?.frame, { width: 640, height: 360 });
      assert.deepEqual(got?.speechSegments?.slice(0, 2), [{ startS: 0, endS: 0.5 }, { startS: 1, endS: 1.5 }]);
      assert.equal(got?.speechSegments?.length, 200, 'capped');
      assert.equal(got?.ocr?.length, 50, 'capped');
      const listed = (await author.http.byTag('boxes')).items[0]?.tagging;
      assert.deepEqual(listed, got, 'tag listings carry the same tagging');
    });
  });
});
