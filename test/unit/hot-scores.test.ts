/**
 * Hot scores on the injected clock: changes are gathered and written once per interval (the
 * newest counters of each video), a deleted video does not come back with a late batch, and
 * the Engine's likes reach the hot feed when its clock says a second has passed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HotScores } from '../../src/actors/hot-scores.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { hotScore } from '../../src/domain/feed-policy.ts';
import type { Counters, VideoRecord } from '../../src/protocol/model.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { FeedStore } from '../../src/storage/store.ts';
import { testEngine } from '../helpers/engine.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };
const START = Date.UTC(2026, 0, 1); // after the TSID epoch

const video = (id: string, createdAt = new Date(START).toISOString()): VideoRecord => ({ id, ownerId: 'OWNER', title: id, description: '', createdAt, media: {} });
const counters = (likes: number): Counters => ({ likes, comments: 0, views: 0, version: likes });

/** The memory store's feeds, with every setHotScore call recorded. */
function world() {
  const store = new MemoryStore(LIMITS);
  const writes: [string, number | null][] = [];
  const feeds: Pick<FeedStore, 'setHotScore'> = {
    setHotScore: (id, score) => {
      writes.push([id, score]);
      return store.feeds.setHotScore(id, score);
    },
  };
  const clock = new ManualClock(START);
  const errors: unknown[] = [];
  const hot = new HotScores({ feeds, clock, onError: (err) => errors.push(err) });
  const tick = () => new Promise((r) => setImmediate(r));
  return { store, writes, clock, hot, errors, tick };
}

describe('HotScores', () => {
  it('writes each changed video once per interval, with its newest counters, when the clock gets there', async () => {
    const w = world();
    const [a, b] = [video('A'), video('B')];
    w.hot.changed(a, counters(1));
    w.hot.changed(b, counters(1));
    w.hot.changed(a, counters(5));
    w.clock.advance(999);
    await w.tick();
    assert.deepEqual(w.writes, [], 'nothing before the interval');
    w.clock.advance(1);
    await w.tick();
    assert.deepEqual(w.writes, [
      ['A', hotScore(counters(5), START)],
      ['B', hotScore(counters(1), START)],
    ]);
    assert.deepEqual(await w.store.feeds.hot(0, 10), ['A', 'B']);

    w.hot.changed(b, counters(9));
    assert.equal(w.clock.pendingTimers, 1, 'the next batch has its timer');
    w.clock.advance(1000);
    await w.tick();
    assert.deepEqual(w.writes.at(-1), ['B', hotScore(counters(9), START)]);
    assert.deepEqual(await w.store.feeds.hot(0, 10), ['B', 'A']);
    assert.deepEqual(w.errors, []);
  });

  it('a video removed while its change waits for the batch does not come back', async () => {
    const w = world();
    const a = video('A');
    await w.hot.created(a, counters(0));
    w.hot.changed(a, counters(3));
    await w.hot.removed('A');
    w.clock.advance(1000);
    await w.tick();
    assert.deepEqual(await w.store.feeds.hot(0, 10), []);
    assert.deepEqual(w.writes.at(-1), ['A', null]);
  });

  it('close() writes what is pending at once and leaves no timer behind', async () => {
    const w = world();
    w.hot.changed(video('A'), counters(2));
    await w.hot.close();
    assert.deepEqual(w.writes, [['A', hotScore(counters(2), START)]]);
    assert.equal(w.clock.pendingTimers, 0);
  });

  it('the Engine batches hot-score updates on its own clock', async () => {
    const clock = new ManualClock(START);
    const { engine } = testEngine(new MemoryStore(LIMITS), { clock });
    const owner = await engine.createUser({ handle: 'hotowner', passwordHash: 'x' });
    const fan = await engine.createUser({ handle: 'hotfan', passwordHash: 'x' });
    const older = await engine.createVideo(owner.id, { title: 'older' });
    clock.advance(60_000); // newer by a minute: first in the hot feed while nobody likes either
    const newer = await engine.createVideo(owner.id, { title: 'newer' });
    const hotIds = async () => (await engine.hotFeed({ limit: 10 })).items.map((v) => v.id);
    assert.deepEqual(await hotIds(), [newer.id, older.id]);
    for (const userId of [owner.id, fan.id]) await engine.like(older.id, userId);
    assert.deepEqual(await hotIds(), [newer.id, older.id], 'not written before the batch');
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(await hotIds(), [older.id, newer.id], 'two likes outweigh a minute of newness');
    await engine.shutdown(1000);
  });
});
