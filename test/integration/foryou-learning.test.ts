/**
 * For You learning behind the interactions (actors/learner.ts, issue 21), through the Engine on
 * both drivers: a like is acknowledged while its learning is held up, the liker's next page
 * waits for it and reflects it; past FORYOU_LEARN_QUEUE_MAX signals are shed and counted (the
 * likes stay stored); a learning failure never fails the like; shutdown learns what is queued.
 * Learning is held up by a gate in front of the real store's `recordSignals`, opened by the test.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Engine } from '../../src/actors/engine.ts';
import { FLUSH_MAX } from '../../src/actors/learner.ts';
import { createMetrics } from '../../src/metrics.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { Store } from '../../src/storage/store.ts';
import { testEngine, testRecommendationOptions } from '../helpers/engine.ts';
import { eventually } from '../helpers/eventually.ts';
import { sample } from '../helpers/metrics.ts';
import { storeDrivers } from '../helpers/stores.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };

/** The real store, its learning writes (`recordSignals`) waiting for `open()` or failing with `fail`. */
function gated(inner: Store) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const state = { calls: 0, fail: undefined as Error | undefined };
  const recommendations = new Proxy(inner.recommendations, {
    get(target, prop) {
      const v = Reflect.get(target, prop) as unknown;
      if (prop !== 'recordSignals') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return async (...args: Parameters<Store['recommendations']['recordSignals']>) => {
        state.calls++;
        if (state.fail) throw state.fail;
        await gate;
        return target.recordSignals(...args);
      };
    },
  });
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'recommendations') return recommendations;
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store, open, state };
}

/** An author with `n` videos, tagged cats and dogs in turn, and a viewer. */
async function catalogue(engine: Engine, n: number): Promise<{ viewer: string; videos: string[] }> {
  const handle = () => `l${Math.random().toString(36).slice(2, 10)}`;
  const author = (await engine.createUser({ handle: handle(), passwordHash: 'x' })).id;
  const viewer = (await engine.createUser({ handle: handle(), passwordHash: 'x' })).id;
  const videos: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = await engine.createVideo(author, { title: `video ${i}` });
    await engine.setTagging(v.id, { tags: [i % 2 === 0 ? 'cats' : 'dogs'] });
    videos.push(v.id);
  }
  return { viewer, videos };
}

const drivers = storeDrivers('foryou-learning', LIMITS);

for (const driver of drivers) {
  describe(`For You learning behind the interactions (${driver.name})`, () => {
    let inner: Store;
    let close: () => Promise<void>;
    beforeEach(async () => {
      ({ store: inner, close } = await driver.open());
    });
    afterEach(async () => {
      await close();
    });

    it('acknowledges a like while its learning is held up; the next page waits for it and reflects it', async () => {
      const { store, open, state } = gated(inner);
      const { engine, errors } = testEngine(store);
      const { viewer, videos } = await catalogue(engine, 8);
      const liked = videos[2]!;

      const reply = await engine.like(liked, viewer);
      assert.equal(reply.changed, true);
      assert.equal(reply.counters.likes, 1);
      await eventually(() => state.calls > 0, 'the learning write has started');
      assert.deepEqual(await inner.recommendations.interests(viewer, Date.now(), testRecommendationOptions().limits), new Map(), 'not learned yet');

      let done = false;
      const page = engine.forYouFeed({ userId: viewer }, { limit: videos.length }).finally(() => (done = true));
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(done, false, 'the page waits for the viewer own signal');
      open();
      const shown = (await page).items.map((v) => v.id);
      assert.ok(shown.length > 0);
      assert.ok(!shown.includes(liked), 'the liked video is in the seen filter before the page is ranked');
      assert.ok(((await inner.recommendations.interests(viewer, Date.now(), testRecommendationOptions().limits)).get('tag:cats') ?? 0) > 0);
      // a viewer with nothing queued does not wait at all
      await engine.forYouFeed({ userId: videos[0]! }, { limit: 3 });
      await engine.shutdown(1000);
      assert.deepEqual(errors, []);
    });

    it('sheds signals past the queue bound, counted and logged once; the likes stay stored; shutdown learns the rest', async () => {
      const { store, open, state } = gated(inner);
      const metrics = createMetrics({ defaultMetrics: false });
      const warnings: Record<string, unknown>[] = [];
      const { engine, errors } = testEngine(store, {
        metrics,
        onWarning: (_message, fields) => warnings.push(fields),
        recommendations: testRecommendationOptions({ learnQueueMax: 3 }),
      });
      const { viewer, videos } = await catalogue(engine, 7);

      await engine.like(videos[0]!, viewer);
      await eventually(() => state.calls === 1, 'the first flush is in flight');
      for (const id of videos.slice(1)) assert.equal((await engine.like(id, viewer)).changed, true);
      assert.equal(await sample(metrics.registry, 'tremolo_foryou_signals_shed_total'), 3, 'three queued, three shed');
      assert.equal(warnings.length, 1, 'one warning for the burst');
      assert.deepEqual(warnings[0], { shed: 1, queueMax: 3 });
      await assert.rejects(engine.recordSignal({ userId: viewer }, videos[1]!, 'finish'), (e: { code?: string }) => e.code === 'E_BUSY');
      assert.equal(await sample(metrics.registry, 'tremolo_foryou_signals_shed_total'), 4);
      assert.deepEqual(await inner.videos.likedByUser(viewer, videos), videos.map(() => true), 'every like is stored');

      open();
      await engine.shutdown(1000);
      const engaged = await inner.recommendations.engaged(viewer, 50);
      assert.deepEqual(new Set(engaged), new Set(videos.slice(0, 4)), 'the in-flight flush and the queued ones were learned, not the shed');
      assert.deepEqual(errors, []);
    });

    it('a failure to learn is reported and never fails the like; an explicit signal hears of it', async () => {
      const { store, state } = gated(inner);
      const { engine, errors } = testEngine(store);
      const { viewer, videos } = await catalogue(engine, 2);
      state.fail = new Error('learning is down');
      assert.equal((await engine.like(videos[0]!, viewer)).changed, true);
      await eventually(() => errors.length === 1, 'the failure was reported');
      await assert.rejects(engine.recordSignal({ userId: viewer }, videos[1]!, 'finish'), /learning is down/);
      assert.equal(errors.length, 1, 'the waiting caller hears of it instead of the log');
      await engine.shutdown(1000);
    });
  });
}

describe('For You learner batches (memory)', () => {
  it('learns a backlog in flushes of at most FLUSH_MAX signals, a few Store calls each; a subject waits for its own flush', async () => {
    const inner = new MemoryStore(LIMITS);
    const sizes: number[] = [];
    let calls = 0;
    const recommendations = new Proxy(inner.recommendations, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls++;
          if (prop === 'recordSignals') sizes.push((args[0] as unknown[]).length);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const store = new Proxy(inner, { get: (t, prop) => (prop === 'recommendations' ? recommendations : (Reflect.get(t, prop) as unknown)) });
    const { engine } = testEngine(store);
    const { videos } = await catalogue(engine, 3);
    const n = 2 * FLUSH_MAX + 500;
    calls = 0;
    for (let i = 0; i < n; i++) assert.equal(engine.recommendations.offerSignal(`~s:backlog-${i}`, videos[i % 3]!, 'like'), true);
    await engine.recommendations.learned(`~s:backlog-${n - 1}`);
    assert.deepEqual(sizes, [FLUSH_MAX, FLUSH_MAX, 500]);
    assert.ok(calls <= 3 * 6, `${calls} Store calls for ${n} signals`);
    assert.deepEqual(await inner.recommendations.engaged(`~s:backlog-${n - 1}`, 5), [videos[(n - 1) % 3]]);
    await engine.shutdown(1000);
  });
});
