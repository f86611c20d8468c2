import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { TaggedCache } from '../../src/storage/cache/tagged-cache.ts';

const page = (n: number) => ({ n });

describe('TaggedCache', () => {
  it('drops every value built from a tag when the tag is invalidated, and only those', () => {
    const cache = new TaggedCache<{ n: number }>({ max: 10, ttlMs: 1000, clock: new ManualClock() });
    cache.set('ada|1', page(1), ['feed:ada', 'video:x', 'video:y']);
    cache.set('bob|1', page(2), ['feed:bob', 'video:y']);
    cache.set('cy|1', page(3), ['feed:cy', 'video:z']);
    cache.invalidateTag('video:y');
    assert.equal(cache.get('ada|1'), undefined);
    assert.equal(cache.get('bob|1'), undefined);
    assert.deepEqual(cache.get('cy|1'), page(3));
    cache.invalidateTag('video:unknown');
    assert.equal(cache.size, 1);
    assert.equal(cache.tagCount, 2, 'the dropped values left no tags behind');
  });

  it('dropping its only value leaves nothing a caller can see, and it fills up again as before', () => {
    const cache = new TaggedCache<{ n: number }>({ max: 3, ttlMs: 1000, clock: new ManualClock() });
    cache.set('ada|1', page(1), ['video:x']);
    cache.invalidateTag('video:x');
    assert.equal(cache.size, 0);
    assert.equal(cache.tagCount, 0);
    assert.equal(cache.get('ada|1'), undefined);
    for (let n = 1; n <= 4; n++) cache.set(`p|${n}`, page(n), [`video:${n}`]);
    assert.equal(cache.size, 3);
    assert.deepEqual([1, 2, 3, 4].map((n) => cache.get(`p|${n}`)?.n), [undefined, 2, 3, 4]);
  });

  it('expires values after the TTL on the injected clock', () => {
    const clock = new ManualClock();
    const cache = new TaggedCache<{ n: number }>({ max: 10, ttlMs: 1000, clock });
    cache.set('k', page(1), ['t']);
    clock.advance(999);
    assert.deepEqual(cache.get('k'), page(1));
    clock.advance(1);
    assert.equal(cache.get('k'), undefined);
    assert.equal(cache.tagCount, 0);
  });

  it('keeps its tag index bounded as values are evicted or replaced', () => {
    const cache = new TaggedCache<{ n: number }>({ max: 3, ttlMs: 1000, clock: new ManualClock() });
    for (let i = 0; i < 100; i++) cache.set(`k${i % 5}`, page(i), [`a${i}`, 'shared']);
    assert.equal(cache.size, 3);
    assert.equal(cache.tagCount, 4, 'one tag per live value plus the shared one');
    cache.invalidateTag('shared');
    assert.equal(cache.size, 0);
    assert.equal(cache.tagCount, 0);
  });

  it('does not keep a value built across an invalidation of one of its own tags', () => {
    const cache = new TaggedCache<{ n: number }>({ max: 10, ttlMs: 1000, clock: new ManualClock() });
    let mark = cache.mark();
    cache.invalidateTag('video:other'); // something else changed meanwhile: kept
    assert.equal(cache.set('a', page(1), ['video:x'], mark), true);
    mark = cache.mark();
    cache.invalidateTag('video:x'); // its own source changed meanwhile: not kept
    assert.equal(cache.set('b', page(2), ['feed:ada', 'video:x'], mark), false);
    assert.equal(cache.get('b'), undefined);
    mark = cache.mark();
    for (let i = 0; i < 2000; i++) cache.invalidateTag(`video:n${i}`); // too many to check
    assert.equal(cache.set('c', page(3), ['video:y'], mark), false);
    assert.equal(cache.set('c', page(3), ['video:y'], cache.mark()), true);
  });
});
