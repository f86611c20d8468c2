import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  affinity,
  composePage,
  decayed,
  quality,
  reasonOf,
  recency,
  scoreCandidate,
  seededRandom,
  seedOf,
  signalDeltas,
  videoFeatures,
  type RankInput,
  type Scored,
} from '../../src/domain/ranking.ts';

const NOW = 1_800_000_000_000;
const cand = (id: string, over: Partial<RankInput> = {}): RankInput => ({
  id,
  authorId: `a${id}`,
  tags: [],
  likes: 0,
  views: 0,
  createdAtMs: NOW,
  source: 'trending',
  ...over,
});

describe('ranking expression', () => {
  it('smooths the like rate toward the prior: no data is average, many views decide', () => {
    assert.equal(quality(0, 0), 1);
    assert.ok(Math.abs(quality(1, 1) - (1 + 1) / 21 / 0.05) < 1e-12);
    assert.ok(quality(50, 100) > quality(1, 1));
    assert.ok(quality(0, 1000) < 0.1);
  });

  it('decays interest by half-lives and keeps recency between 0.5 and 1', () => {
    assert.equal(decayed(8, 0, 3 * 1000, 1000), 1);
    assert.equal(decayed(8, 10, 5, 1000), 8, 'a clock step backwards does not grow a weight');
    assert.equal(recency(NOW, NOW), 1);
    assert.ok(Math.abs(recency(NOW - 48 * 3600_000, NOW) - 0.75) < 1e-12);
    assert.ok(recency(0, NOW) >= 0.5);
  });

  it('affinity grows with interest and never goes below zero for skipped features', () => {
    assert.equal(affinity(0), 1);
    assert.equal(affinity(2), 3);
    assert.ok(affinity(-3) > 0 && affinity(-3) < affinity(-1));
  });

  it('scores by interest in the video\'s tags and author, and names the strongest', () => {
    const weights = new Map([
      ['tag:cats', 2],
      ['author:aX', 0.5],
      ['tag:cars', -1],
    ]);
    const cats = scoreCandidate(cand('1', { tags: ['cats'], authorId: 'aX', source: 'interest' }), weights, NOW);
    const cars = scoreCandidate(cand('2', { tags: ['cars'], source: 'interest' }), weights, NOW);
    const plain = scoreCandidate(cand('3'), weights, NOW);
    assert.equal(cats.interest, 2.5);
    assert.equal(cats.score, 3.5);
    assert.ok(cars.score < plain.score && plain.score < cats.score);
    assert.equal(reasonOf(cats), 'interest:cats');
    assert.equal(reasonOf(scoreCandidate(cand('4', { authorId: 'aX', source: 'interest' }), weights, NOW)), 'interest:@aX');
    assert.equal(reasonOf(plain), 'trending');
  });

  it('learns more from a like than a view, unlearns with a skip; authors count half', () => {
    const f = videoFeatures({ ownerId: 'U', tagging: { tags: ['a', 'b'] } });
    assert.deepEqual(f, ['tag:a', 'tag:b', 'author:U']);
    const like = signalDeltas('like', f);
    assert.equal(like.get('tag:a'), 1);
    assert.equal(like.get('author:U'), 0.5);
    assert.ok(signalDeltas('view', f).get('tag:a')! < signalDeltas('finish', f).get('tag:a')!);
    assert.ok(signalDeltas('skip', f).get('tag:a')! < 0);
  });
});

describe('page composition', () => {
  const scored = (c: RankInput, score: number): Scored => ({ ...c, score, interest: 0, topFeature: undefined });

  it('caps items per author and per tag, best first', () => {
    const ranked = Array.from({ length: 30 }, (_, i) => scored(cand(String(100 + i), { authorId: `a${i % 3}`, tags: [`t${i % 2}`] }), 100 - i));
    const page = composePage(ranked, [], { limit: 10, maxPerAuthor: 2, maxPerTag: 3, exploreSlots: 0 }, seededRandom(1));
    const by = (key: (c: Scored) => string[]) => {
      const m = new Map<string, number>();
      for (const c of page) for (const k of key(c)) m.set(k, (m.get(k) ?? 0) + 1);
      return Math.max(...m.values());
    };
    assert.equal(page.length, 6, 'two tags of at most three each');
    assert.ok(by((c) => [c.authorId]) <= 2);
    assert.ok(by((c) => [...c.tags]) <= 3);
    assert.deepEqual(page.map((c) => c.id).slice(0, 2), ['100', '101']);
  });

  it('keeps exploration places for fresh videos, spread through the page, and fills from them when short', () => {
    const ranked = Array.from({ length: 20 }, (_, i) => scored(cand(`r${i}`), 50 - i));
    const fresh = Array.from({ length: 5 }, (_, i) => scored(cand(`f${i}`, { source: 'fresh' }), 0));
    const page = composePage(ranked, fresh, { limit: 10, maxPerAuthor: 9, maxPerTag: 9, exploreSlots: 2 }, seededRandom(7));
    assert.equal(page.length, 10);
    const at = page.flatMap((c, i) => (c.source === 'fresh' ? [i] : []));
    assert.equal(at.length, 2);
    assert.ok(at[0]! > 0 && at[1]! < 9, `fresh at ${at}`);
    const short = composePage(ranked.slice(0, 3), fresh, { limit: 10, maxPerAuthor: 9, maxPerTag: 9, exploreSlots: 1 }, seededRandom(7));
    assert.equal(short.length, 8);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const fresh = Array.from({ length: 40 }, (_, i) => scored(cand(`f${i}`, { source: 'fresh' }), 0));
    const rules = { limit: 10, maxPerAuthor: 9, maxPerTag: 9, exploreSlots: 10 };
    const a = composePage([], fresh, rules, seededRandom(seedOf(1, 'alice', 0))).map((c) => c.id);
    const b = composePage([], fresh, rules, seededRandom(seedOf(1, 'alice', 0))).map((c) => c.id);
    const c = composePage([], fresh, rules, seededRandom(seedOf(1, 'bob', 0))).map((c) => c.id);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });
});
