/**
 * The For You feed and the hot feed, through the Engine on both storage drivers (memory, and
 * real Redis under a random prefix): no repeats within a session while likes land between
 * pages, the diversity cap, deleted and blocked content, learning from a like, determinism,
 * anonymous sessions, and a slow candidate source.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Engine } from '../../src/actors/engine.ts';
import { Recommendations } from '../../src/actors/recommendations.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { CandidateSource } from '../../src/domain/ranking.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { Store } from '../../src/storage/store.ts';
import { testEngine, testRecommendationOptions } from '../helpers/engine.ts';
import { eventually } from '../helpers/eventually.ts';
import { storeDrivers } from '../helpers/stores.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };
const TAGS = ['cats', 'dogs', 'cars', 'food', 'music', 'travel'];

interface Catalogue {
  users: string[];
  /** Video id -> its author and tag. */
  videos: Map<string, { authorId: string; tag: string }>;
}

/** `authors` authors with `perAuthor` videos each; video i of the catalogue carries TAGS[i % 6]. */
async function catalogue(engine: Engine, authors = 6, perAuthor = 10, viewers = 4): Promise<Catalogue> {
  const users: string[] = [];
  for (let i = 0; i < authors + viewers; i++) users.push((await engine.createUser({ handle: `u${i}x${Math.random().toString(36).slice(2, 8)}`, passwordHash: 'x' })).id);
  const videos = new Map<string, { authorId: string; tag: string }>();
  for (let i = 0; i < authors * perAuthor; i++) {
    const authorId = users[Math.floor(i / perAuthor)]!;
    const tag = TAGS[i % TAGS.length]!;
    const v = await engine.createVideo(authorId, { title: `video ${i}` });
    await engine.setTagging(v.id, { tags: [tag] });
    videos.set(v.id, { authorId, tag });
  }
  return { users: users.slice(authors), videos };
}

const drivers = storeDrivers('foryou', LIMITS);

for (const driver of drivers) {
  describe(`For You and hot feeds (${driver.name})`, () => {
    let store: Store;
    let close: () => Promise<void>;
    /** The engines a test made on `store`: shut down before it closes (a like's learning runs after its ack). */
    let engines: Engine[] = [];
    const engineOn = (s: Store, opts?: Parameters<typeof testEngine>[1]): Engine => {
      const { engine } = testEngine(s, opts);
      engines.push(engine);
      return engine;
    };
    // a store of its own per test: each test's catalogue is the whole catalogue
    beforeEach(async () => {
      ({ store, close } = await driver.open());
    });
    afterEach(async () => {
      for (const engine of engines) await engine.shutdown(5000);
      engines = [];
      await close();
    });

    it('never repeats a video within a session while likes land between pages (hot and For You)', async () => {
      const engine = engineOn(store);
      const cat = await catalogue(engine, 6, 10, 4);
      const ids = [...cat.videos.keys()];
      const [reader, ...likers] = cat.users;
      await engine.flushHotScores();
      let lap = 0;
      for (const feed of ['hot', 'foryou'] as const) {
        const shown: string[] = [];
        let cursor: string | undefined;
        for (let p = 0; p < 5; p++) {
          const page =
            feed === 'hot' ? await engine.hotFeed({ limit: 8, ...(cursor ? { cursor } : {}) }, reader) : await engine.forYouFeed({ userId: reader! }, { limit: 8, ...(cursor ? { cursor } : {}) });
          shown.push(...page.items.map((v) => v.id));
          cursor = page.nextCursor;
          assert.ok(cursor, `page ${p} of ${feed} has a next page`);
          // others like videos not shown yet: they rise above the page boundary
          const unseen = ids.filter((id) => !shown.includes(id));
          for (const [k, liker] of likers.entries()) {
            for (const id of unseen.slice(k * 3 + lap, k * 3 + lap + 3)) await engine.like(id, liker);
          }
          lap++;
          await engine.flushHotScores();
        }
        assert.equal(new Set(shown).size, shown.length, `${feed} repeated: ${shown.length - new Set(shown).size} of ${shown.length}`);
        assert.equal(shown.length, 40);
      }
    });

    it('holds the diversity cap on every page and never shows deleted or blocked videos', async () => {
      const blockedAuthors = new Set<string>();
      const engine = engineOn(store, {
        recommendations: testRecommendationOptions({ maxPerAuthor: 2, maxPerTag: 3 }),
        blocked: async (_subject, authorIds) => authorIds.map((a) => blockedAuthors.has(a)),
      });
      const cat = await catalogue(engine, 6, 10, 1);
      const reader = cat.users[0]!;
      const byAuthor = [...cat.videos].map(([id, v]) => ({ id, ...v }));
      const blocked = byAuthor[0]!.authorId;
      blockedAuthors.add(blocked);
      const deleted = byAuthor.filter((v) => v.authorId === byAuthor[15]!.authorId).slice(0, 5);
      for (const v of deleted) await engine.deleteVideo(v.id, v.authorId);
      await engine.flushHotScores();
      await engine.like(byAuthor[20]!.id, reader); // an interest, so interest candidates are in play too

      let cursor: string | undefined;
      const seen: string[] = [];
      for (let p = 0; p < 4; p++) {
        const page = await engine.forYouFeed({ userId: reader }, { limit: 6, ...(cursor ? { cursor } : {}) });
        const authors = new Map<string, number>();
        const tags = new Map<string, number>();
        for (const v of page.items) {
          authors.set(v.ownerId, (authors.get(v.ownerId) ?? 0) + 1);
          const tag = cat.videos.get(v.id)!.tag;
          tags.set(tag, (tags.get(tag) ?? 0) + 1);
          assert.notEqual(v.ownerId, blocked, 'a blocked author');
          assert.ok(!deleted.some((d) => d.id === v.id), 'a deleted video');
          assert.notEqual(v.id, byAuthor[20]!.id, 'a liked video');
        }
        assert.ok(Math.max(...authors.values()) <= 2, `authors ${[...authors.values()]}`);
        assert.ok(Math.max(...tags.values()) <= 3, `tags ${[...tags.values()]}`);
        seen.push(...page.items.map((v) => v.id));
        cursor = page.nextCursor;
        if (!cursor) break;
      }
      assert.ok(seen.length >= 12, `only ${seen.length} videos shown`);
    });

    it('a like changes the next page: interest in its tag, with that reason', async () => {
      const engine = engineOn(store);
      const cat = await catalogue(engine, 6, 10, 1);
      const reader = cat.users[0]!;
      await engine.flushHotScores();
      const first = await engine.forYouFeed({ userId: reader }, { limit: 10 });
      assert.ok(first.reasons.every((r) => r === 'trending' || r === 'fresh'), `cold start: ${first.reasons}`);
      const dog = [...cat.videos].find(([id, v]) => v.tag === 'dogs' && !first.items.some((i) => i.id === id))![0];
      await engine.like(dog, reader);
      const next = await engine.forYouFeed({ userId: reader }, { limit: 10, ...(first.nextCursor ? { cursor: first.nextCursor } : {}) });
      const dogs = next.items.filter((v) => cat.videos.get(v.id)!.tag === 'dogs');
      assert.ok(next.reasons.includes('interest:dogs'), `reasons: ${next.reasons}`);
      assert.ok(dogs.length >= 3, `${dogs.length} dog videos`);
      assert.ok(!next.items.some((v) => v.id === dog), 'the liked video itself is not shown');
    });

    it('keeps anonymous sessions apart, from each other and from users', async () => {
      const engine = engineOn(store);
      const cat = await catalogue(engine, 6, 10, 0);
      await engine.flushHotScores();
      const a = { sessionId: 'session-a-0123456789' };
      const b = { sessionId: 'session-b-0123456789' };
      const a1 = await engine.forYouFeed(a, { limit: 10 });
      const b1 = await engine.forYouFeed(b, { limit: 10 });
      assert.equal(a1.items.length, 10);
      const trendingOfA = a1.items.filter((_, i) => a1.reasons[i] === 'trending').map((v) => v.id);
      assert.ok(trendingOfA.some((id) => b1.items.some((v) => v.id === id)), 'what A was shown is still new to B');
      const a2 = await engine.forYouFeed(a, { limit: 10, cursor: a1.nextCursor! });
      assert.ok(!a2.items.some((v) => a1.items.some((w) => w.id === v.id)), 'A does not see its first page again');

      const cars = [...cat.videos].filter(([, v]) => v.tag === 'cars').map(([id]) => id);
      await engine.recordSignal(a, cars[0]!, 'like');
      await engine.recordSignal(a, cars[1]!, 'finish');
      const a3 = await engine.forYouFeed(a, { limit: 10, cursor: a2.nextCursor! });
      const b2 = await engine.forYouFeed(b, { limit: 10, cursor: b1.nextCursor! });
      assert.ok(a3.reasons.includes('interest:cars'), `A: ${a3.reasons}`);
      assert.ok(!b2.reasons.some((r) => r.startsWith('interest:')), `B: ${b2.reasons}`);

      await assert.rejects(engine.forYouFeed({ sessionId: 'short' }, { limit: 10 }), (e: { code?: string }) => e.code === 'E_VALIDATION');
      await assert.rejects(engine.forYouFeed(a, { limit: 10, cursor: 'garbage' }), (e: { code?: string }) => e.code === 'E_BAD_CURSOR');
      await assert.rejects(engine.hotFeed({ limit: 10, cursor: Buffer.from('["x|y"]').toString('base64url') }), (e: { code?: string }) => e.code === 'E_BAD_CURSOR');
      await assert.rejects(engine.recordSignal(a, cars[0]!, 'nope' as 'like'), (e: { code?: string }) => e.code === 'E_VALIDATION');
      await assert.rejects(engine.recordSignal(a, '0000000000000', 'like'), (e: { code?: string }) => e.code === 'E_VIDEO_NOT_FOUND');
    });

    it('co-engagement: videos finished by those who liked what you liked come as `similar`', async () => {
      const engine = engineOn(store);
      const cat = await catalogue(engine, 6, 10, 2);
      const [me, peer] = cat.users as [string, string];
      const ids = [...cat.videos.keys()];
      await engine.recordSignal({ userId: peer }, ids[7]!, 'finish');
      await engine.like(ids[3]!, peer);
      await engine.like(ids[3]!, me); // shared taste: the peer's recent engagements become mine to see
      // a like is learned behind its ack (learner.ts); a page would wait for it, this read waits here
      await engine.recommendations.learned(me);
      assert.deepEqual(new Set(await store.recommendations.similar(me, 10)), new Set([ids[7]]));
      await engine.like(ids[11]!, peer); // later engagements of the peer reach me too
      await engine.recommendations.learned(peer);
      assert.ok((await store.recommendations.similar(me, 10)).includes(ids[11]!));
    });
  });
}

describe('For You determinism and deadlines (memory)', () => {
  it('gives the same pages for the same seed and state', async () => {
    const run = async (seed: number) => {
      const clock = new ManualClock(1_800_000_000_000);
      const { engine } = testEngine(new MemoryStore(LIMITS), { clock, recommendations: testRecommendationOptions({ seed, exploreShare: 0.3 }) });
      const cat = await catalogue(engine, 6, 10, 0);
      void cat;
      const pages: string[][] = [];
      let cursor: string | undefined;
      for (let p = 0; p < 3; p++) {
        const page = await engine.forYouFeed({ sessionId: 'the-same-session-id' }, { limit: 10, ...(cursor ? { cursor } : {}) });
        pages.push(page.items.map((v, i) => `${v.title}/${page.reasons[i]}`));
        cursor = page.nextCursor;
      }
      return pages;
    };
    const a = await run(42);
    assert.deepEqual(await run(42), a);
    assert.notDeepEqual(await run(43), a);
  });

  it('does not wait past its deadline for a slow source', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const store = new MemoryStore(LIMITS);
    const { engine } = testEngine(store, { clock });
    await catalogue(engine, 3, 10, 0);
    await engine.flushHotScores();
    // the co-engagement source never answers
    const slowSimilar = Object.assign(Object.create(store.recommendations) as Store['recommendations'], { similar: () => new Promise<string[]>(() => {}) });
    const slow = Object.assign(Object.create(store) as Store, { recommendations: slowSimilar });
    const late: CandidateSource[] = [];
    const recs = new Recommendations({
      store: slow,
      clock,
      options: testRecommendationOptions({ sourceDeadlineMs: 40 }),
      videos: async (ids) => store.videos.getMany([...ids]),
      following: async () => [],
      onError: (err) => assert.fail(err as Error),
      onSourceLate: (source) => late.push(source),
    });
    let done = false;
    const page = recs.page('~s:slow-source-session', undefined, { limit: 5 }).finally(() => (done = true));
    await eventually(() => clock.pendingTimers > 0, 'the deadlines are set');
    assert.equal(done, false);
    clock.advance(40);
    const result = await page;
    assert.deepEqual(late, ['similar']);
    assert.equal(result.items.length, 5);
  });
});
