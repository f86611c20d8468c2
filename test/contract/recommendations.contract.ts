/**
 * The Store contract's recommendations section (store.contract.ts runs it for every driver):
 * interest weights with decay and a bound, the seen filter, co-engagement and the exploration pool.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TsidGenerator } from '../../src/domain/ids.ts';
import type { RecommendationLimits, Store } from '../../src/storage/store.ts';

const LIMITS: RecommendationLimits = {
  interestsMax: 3,
  interestHalfLifeMs: 1000,
  seenMax: 4,
  seenTtlMs: 10_000,
  engagedMax: 3,
  similarMax: 3,
  stateTtlMs: 60_000,
  subjectsMax: 1000,
  freshPoolMax: 4,
};

export function recommendationsContract(store: () => Store): void {
  describe('recommendations', () => {
    const ids = new TsidGenerator({ nodeId: 9 });
    const T = Date.now();
    const near = (a: number | undefined, b: number) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-9, `${a} is not ${b}`);

    it('moves interest weights by signals, decays them by half-lives, strongest first', async () => {
      const s = ids.next();
      const v = ids.next();
      const r = store().recommendations;
      await r.recordSignal(s, { videoId: v, deltas: new Map([['tag:cats', 1], ['author:A', 0.5]]), engaged: true, now: T }, LIMITS);
      await r.recordSignal(s, { videoId: v, deltas: new Map([['tag:cats', 1]]), engaged: false, now: T + 1000 }, LIMITS);
      const w = await r.interests(s, T + 2000, LIMITS);
      assert.deepEqual([...w.keys()], ['tag:cats', 'author:A']);
      near(w.get('tag:cats'), (1 * 0.5 + 1) * 0.5);
      near(w.get('author:A'), 0.5 * 0.25);
      assert.deepEqual(await r.interests(ids.next(), T, LIMITS), new Map(), 'a new subject has none');
    });

    it('keeps the strongest interestsMax weights (by absolute value)', async () => {
      const s = ids.next();
      const r = store().recommendations;
      const deltas = new Map([['tag:a', 0.1], ['tag:b', -2], ['tag:c', 1], ['tag:d', 0.5]]);
      await r.recordSignal(s, { videoId: ids.next(), deltas, engaged: false, now: T }, LIMITS);
      const w = await r.interests(s, T, LIMITS);
      assert.deepEqual([...w.keys()], ['tag:c', 'tag:d', 'tag:b']);
    });

    it('remembers what was shown until its TTL, the newest seenMax only, per subject', async () => {
      const s = ids.next();
      const other = `~s:${ids.next()}session`;
      const r = store().recommendations;
      const v = Array.from({ length: 6 }, () => ids.next());
      await r.markSeen(s, [v[0]!, v[1]!], T, LIMITS);
      await r.recordSignal(s, { videoId: v[2]!, deltas: new Map(), engaged: false, now: T + 1 }, LIMITS);
      assert.deepEqual(await r.seen(s, v, T + 2, LIMITS), [true, true, true, false, false, false]);
      assert.deepEqual(await r.seen(other, v, T + 2, LIMITS), [false, false, false, false, false, false]);
      await r.markSeen(s, [v[3]!, v[4]!], T + 3, LIMITS);
      assert.deepEqual(await r.seen(s, v, T + 4, LIMITS), [false, true, true, true, true, false], 'the oldest left past seenMax');
      assert.deepEqual(await r.seen(s, v, T + 3 + LIMITS.seenTtlMs, LIMITS), [false, false, false, false, false, false], 'all expired');
      assert.deepEqual(await r.seen(s, [], T, LIMITS), []);
    });

    it('keeps engagements and engagers newest first, once each, capped', async () => {
      const s = ids.next();
      const r = store().recommendations;
      const v = Array.from({ length: 4 }, () => ids.next());
      for (const id of [v[0]!, v[1]!, v[0]!, v[2]!, v[3]!]) {
        await r.recordSignal(s, { videoId: id, deltas: new Map(), engaged: true, now: T }, LIMITS);
      }
      await r.recordSignal(s, { videoId: ids.next(), deltas: new Map(), engaged: false, now: T }, LIMITS);
      assert.deepEqual(await r.engaged(s, 10), [v[3], v[2], v[0]]);
      assert.deepEqual(await r.engaged(s, 1), [v[3]]);
      const video = ids.next();
      for (const who of ['x', 'y', 'x', 'z', 'w']) await r.addEngager(video, who, LIMITS);
      assert.deepEqual(await r.engagers(video, 10), ['w', 'z', 'x']);
      await r.forgetVideo(video);
      assert.deepEqual(await r.engagers(video, 10), []);
    });

    it('ranks co-engaged videos by how often they came up, keeping the strongest', async () => {
      const s = ids.next();
      const r = store().recommendations;
      const [a, b, c, d] = Array.from({ length: 4 }, () => ids.next());
      await r.addSimilar(s, [a!, b!, c!], T, LIMITS);
      await r.addSimilar(s, [b!, c!], T, LIMITS);
      await r.addSimilar(s, [c!, d!], T, LIMITS);
      assert.deepEqual(await r.similar(s, 10), [c, b, d], 'a and d tie at 1; the higher id stays');
      assert.deepEqual(await r.similar(s, 1), [c]);
      assert.deepEqual(await r.similar(ids.next(), 5), []);
    });

    it('the batched forms are the single calls in order (recordSignals, engagedOf, engagersOf, addSimilarMany, addEngagers)', async () => {
      const r = store().recommendations;
      const [s1, s2, empty] = [ids.next(), `~s:${ids.next()}batch`, ids.next()];
      const v = Array.from({ length: 4 }, () => ids.next());
      const signal = (videoId: string, deltas: [string, number][], engaged: boolean, now: number) => ({ videoId, deltas: new Map(deltas), engaged, now });
      // one subject's signals apply in the order given: the second decays the first's weight
      await r.recordSignals(
        [
          { subject: s1, update: signal(v[0]!, [['tag:cats', 1]], true, T) },
          { subject: s2, update: signal(v[1]!, [['tag:dogs', 2]], true, T) },
          { subject: s1, update: signal(v[1]!, [['tag:cats', 1], ['author:A', -1]], true, T + 1000) },
          { subject: s1, update: signal(v[2]!, [], false, T + 1000) },
          { subject: s1, update: signal(v[0]!, [], true, T + 1000) },
        ],
        LIMITS,
      );
      const w = await r.interests(s1, T + 1000, LIMITS);
      near(w.get('tag:cats'), 1 * 0.5 + 1);
      near(w.get('author:A'), -1);
      near((await r.interests(s2, T, LIMITS)).get('tag:dogs'), 2);
      assert.deepEqual(await r.seen(s1, v, T + 1000, LIMITS), [true, true, true, false]);
      assert.deepEqual(await r.engagedOf([s1, s2, empty], 10), [[v[0], v[1]], [v[1]], []], 'v0 again is the newest, once');
      assert.deepEqual(await r.engagedOf([s1], 1), [[v[0]]]);
      assert.deepEqual(await r.engagedOf([s1, s2], 0), [[], []]);
      await r.recordSignals([], LIMITS);

      const [video, other] = [ids.next(), ids.next()];
      await r.addEngagers(
        ['x', 'y', 'x', 'z', 'w'].map((subject) => ({ videoId: video, subject })).concat([{ videoId: other, subject: 'q' }]),
        LIMITS,
      );
      assert.deepEqual(await r.engagersOf([video, other, ids.next()], 10), [['w', 'z', 'x'], ['q'], []]);
      assert.deepEqual(await r.engagersOf([video], 2), [['w', 'z']]);
      await r.addEngagers([], LIMITS);

      const [a, b, c, d] = Array.from({ length: 4 }, () => ids.next());
      await r.addSimilarMany(
        [
          { subject: s1, videoIds: [a!, b!, c!] },
          { subject: s2, videoIds: [d!] },
          { subject: s1, videoIds: [b!, c!] },
          { subject: s2, videoIds: [] },
          { subject: s1, videoIds: [c!, d!, c!] },
        ],
        T,
        LIMITS,
      );
      assert.deepEqual(await r.similar(s1, 10), [c, b, d], 'c counted 4 times, b twice; a and d tie at 1 and the higher id stays');
      assert.deepEqual(await r.similar(s2, 10), [d]);
    });

    it('the exploration pool: fewest impressions first, leaves after maxImpressions, oldest go past poolMax', async () => {
      const r = store().recommendations;
      // the pool is shared by the whole store: drain what earlier tests left
      for (const id of await r.fresh(100)) await r.forgetVideo(id);
      const v = Array.from({ length: 5 }, () => ids.next());
      for (const id of v) await r.addFresh(id, LIMITS);
      assert.deepEqual(await r.fresh(10), v.slice(1), 'the oldest left past freshPoolMax');
      await r.countImpressions([v[1]!, v[2]!, v[1]!, ids.next()], 2);
      assert.deepEqual(await r.fresh(10), [v[3], v[4], v[2]], 'v1 had its two impressions');
      await r.addFresh(v[2]!, LIMITS);
      assert.deepEqual(await r.fresh(10), [v[3], v[4], v[2]], 'adding again keeps its count');
      await r.forgetVideo(v[3]!);
      assert.deepEqual(await r.fresh(2), [v[4], v[2]]);
    });

    it('pages the hot ranking by keyset: a page boundary is a place, not a position', async () => {
      const f = store().feeds;
      const v = Array.from({ length: 5 }, () => ids.next());
      const base = 1e9; // above anything other tests rank
      await f.setHotScore(v[0]!, base + 5);
      await f.setHotScore(v[1]!, base + 4);
      await f.setHotScore(v[2]!, base + 4);
      await f.setHotScore(v[3]!, base + 3.25);
      await f.setHotScore(v[4]!, base + 1);
      const first = await f.hotAfter(undefined, 2);
      assert.deepEqual(first, [{ id: v[0], score: base + 5 }, { id: v[2], score: base + 4 }], 'equal scores: higher id first');
      // v4 jumps above the boundary: it is not on the next page, and nothing shown comes back
      await f.setHotScore(v[4]!, base + 10);
      const second = await f.hotAfter(first[1], 2);
      assert.deepEqual(second.map((p) => p.id), [v[1], v[3]]);
      assert.equal(second[1]!.score, base + 3.25);
      for (const id of v) await f.setHotScore(id, null);
    });
  });
}
