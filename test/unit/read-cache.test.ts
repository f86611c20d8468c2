import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { createMetrics } from '../../src/metrics.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { ReadCache } from '../../src/storage/cache/read-cache.ts';

function harness() {
  const clock = new ManualClock();
  const loads: string[] = [];
  const db = new Map<string, { v: number }>([['a', { v: 1 }]]);
  let down = false;
  let gate: Promise<void> | undefined;
  const metrics = createMetrics({ defaultMetrics: false });
  const cache = new ReadCache<{ v: number }>({
    name: 'test',
    max: 100,
    ttlMs: 1000,
    negativeTtlMs: 200,
    refreshAheadMs: 200,
    clock,
    metrics: metrics.cache,
    load: async (key) => {
      loads.push(key);
      if (gate) await gate;
      if (down) throw new TremoloError('E_STORAGE_UNAVAILABLE');
      const row = db.get(key);
      return row ? { ...row } : null;
    },
  });
  return {
    clock,
    cache,
    loads,
    db,
    metrics,
    setDown: (d: boolean) => (down = d),
    hold: () => {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

describe('ReadCache', () => {
  it('serves hits from memory until the TTL, then reloads', async () => {
    const h = harness();
    assert.deepEqual(await h.cache.get('a'), { value: { v: 1 }, degraded: false });
    h.db.set('a', { v: 2 });
    assert.deepEqual((await h.cache.get('a')).value, { v: 1 });
    assert.equal(h.loads.length, 1);
    h.clock.advance(1001);
    assert.deepEqual((await h.cache.get('a')).value, { v: 2 });
    assert.equal(h.loads.length, 2);
  });

  it('coalesces concurrent misses for one key into one load', async () => {
    const h = harness();
    const open = h.hold();
    const reads = Array.from({ length: 10 }, () => h.cache.get('a'));
    open();
    const values = await Promise.all(reads);
    assert.equal(h.loads.length, 1);
    assert.ok(values.every((r) => r.value?.v === 1));
  });

  it('refreshes hot keys ahead of expiry in the background', async () => {
    const h = harness();
    await h.cache.get('a');
    h.db.set('a', { v: 5 });
    h.clock.advance(850); // inside the refresh-ahead window
    assert.equal((await h.cache.get('a')).value?.v, 1, 'answers at once with the current value');
    await new Promise((r) => setImmediate(r));
    assert.equal(h.loads.length, 2, 'and reloads in the background');
    h.clock.advance(400); // past the original expiry: the refreshed entry is still fresh
    assert.equal((await h.cache.get('a')).value?.v, 5);
    assert.equal(h.loads.length, 2);
  });

  it('caches not-found briefly', async () => {
    const h = harness();
    assert.equal((await h.cache.get('missing')).value, null);
    assert.equal((await h.cache.get('missing')).value, null);
    assert.equal(h.loads.length, 1);
    h.clock.advance(201);
    await h.cache.get('missing');
    assert.equal(h.loads.length, 2);
  });

  it('serves an expired entry marked degraded when storage is unavailable', async () => {
    const h = harness();
    await h.cache.get('a');
    h.clock.advance(2000);
    h.setDown(true);
    assert.deepEqual(await h.cache.get('a'), { value: { v: 1 }, degraded: true });
    await assert.rejects(h.cache.get('never-seen'), (e: TremoloError) => e.code === 'E_STORAGE_UNAVAILABLE');
    h.setDown(false);
    assert.deepEqual(await h.cache.get('a'), { value: { v: 1 }, degraded: false });
    const text = await h.metrics.registry.getSingleMetricAsString('tremolo_cache_lookups_total');
    assert.match(text, /result="degraded"} 1/);
    assert.match(text, /result="stale"} 2/);
    assert.match(text, /result="miss"} 2/);
  });

  it('invalidation drops the entry, and a load that started before it does not bring the old value back', async () => {
    const h = harness();
    await h.cache.get('a');
    h.clock.advance(1001);
    const open = h.hold();
    const stale = h.cache.get('a'); // loads v1 ... slowly
    h.db.set('a', { v: 9 });
    h.cache.invalidate('a'); // a write happened meanwhile
    open();
    await stale;
    assert.equal((await h.cache.get('a')).value?.v, 9);
  });

  it('invalidating its only entry empties it for callers: the next read loads, the count is 0, a full cache evicts as before', async () => {
    const h = harness();
    h.db.set('b', { v: 2 });
    await h.cache.get('a');
    h.cache.invalidate('a');
    assert.equal(h.cache.size, 0);
    h.db.set('a', { v: 3 });
    assert.deepEqual((await h.cache.get('a')).value, { v: 3 });
    assert.deepEqual(h.loads, ['a', 'a']);
    assert.equal(h.cache.size, 1);
    // filled to its bound (100): still at most 100 entries, and every one a caller's
    for (let i = 0; i < 120; i++) h.cache.set(`k${i}`, { v: i });
    assert.equal(h.cache.size, 100);
    assert.deepEqual((await h.cache.get('k119')).value, { v: 119 });
  });

  it('getMany answers hits at once and loads only the misses, sharing loads already under way', async () => {
    const h = harness();
    h.db.set('b', { v: 2 });
    await h.cache.get('a');
    const open = h.hold();
    const single = h.cache.get('b'); // a load of b under way
    const many = h.cache.getMany(['a', 'b', 'missing', 'a']);
    open();
    const reads = await many;
    assert.deepEqual(
      reads.map((r) => r.value?.v ?? null),
      [1, 2, null, 1],
    );
    assert.equal((await single).value?.v, 2);
    assert.deepEqual(h.loads, ['a', 'b', 'missing'], 'a from the first get; b once for both readers; missing once');
    assert.deepEqual(await h.cache.getMany([]), []);
  });
});
