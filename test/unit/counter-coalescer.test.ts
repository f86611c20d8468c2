/**
 * CounterCoalescer on a ManualClock: the interval formula (docs/architecture.md, "Live delivery": the base
 * interval for small rooms, n x activeRooms / budget seconds for big ones), at most one
 * emission per interval per video with the newest values, `latest()` and `close()`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import type { CounterPayload } from '../../src/protocol/live.ts';
import { CounterCoalescer, type CoalescerOptions } from '../../src/transport/live/counter-coalescer.ts';

const BASE_MS = 100;
const BUDGET = 1000;

function harness(opts: Partial<CoalescerOptions> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const start = clock.now();
  const sizes = new Map<string, number>();
  /** [ms since start, videoId, version] of every emission. */
  const emitted: [number, string, number][] = [];
  const coalescer = new CounterCoalescer({
    clock,
    baseIntervalMs: BASE_MS,
    budgetPerSec: BUDGET,
    roomSize: (id) => sizes.get(id) ?? 1,
    emit: (p) => emitted.push([clock.now() - start, p.videoId, p.version]),
    ...opts,
  });
  const payload = (videoId: string, version: number): CounterPayload => ({ videoId, likes: version, comments: 0, views: 0, version, offset: version });
  return { clock, sizes, emitted, coalescer, offer: (videoId: string, version: number) => coalescer.offer(payload(videoId, version)) };
}

describe('CounterCoalescer', () => {
  it('interval: the base interval for small rooms; n x activeRooms / budget seconds for big ones', () => {
    const h = harness();
    h.sizes.set('small', 10);
    h.sizes.set('big', 500);
    h.sizes.set('huge', 10_000);
    // 10 watchers with the whole budget: 10 ms, below the base
    h.offer('small', 1);
    assert.equal(h.coalescer.intervalFor('small'), BASE_MS);
    // one active room: 500 x 1 / 1000 s
    assert.equal(h.coalescer.intervalFor('big'), 500);
    // two active rooms share the budget: 500 x 2 / 1000 s
    h.offer('big', 1);
    assert.equal(h.coalescer.intervalFor('big'), 1000);
    assert.equal(h.coalescer.intervalFor('small'), BASE_MS, '10 x 2 / 1000 s is still below the base');
    h.offer('huge', 1);
    assert.equal(h.coalescer.intervalFor('big'), 1500);
    assert.equal(h.coalescer.intervalFor('huge'), 30_000);

    // a room counts as active for 2 s after its last offer
    h.clock.advance(2000);
    h.offer('big', 2);
    assert.equal(h.coalescer.intervalFor('big'), 1500, 'the others were offered exactly 2 s ago: still active');
    h.clock.advance(1);
    assert.equal(h.coalescer.intervalFor('big'), 500, 'only big is active now');
    h.coalescer.close();
  });

  it('a small room: leading edge at once, then at most one emission per interval, each with the newest version', () => {
    const h = harness();
    for (let v = 1; v <= 25; v++) {
      h.offer('v', v);
      h.clock.advance(10); // a like every 10 ms
    }
    // offers at 0..240 ms; interval 100 ms
    assert.deepEqual(h.emitted, [
      [0, 'v', 1],
      [100, 'v', 10],
      [200, 'v', 20],
    ]);
    h.clock.advance(1000);
    assert.deepEqual(h.emitted.slice(3), [[300, 'v', 25]], 'the last offer still goes out, one interval after the previous emission');
    h.clock.advance(10_000);
    assert.equal(h.emitted.length, 4, 'nothing new: nothing more');
    assert.equal(h.clock.pendingTimers, 0);
  });

  it('a big room waits its longer interval and always carries the newest values', () => {
    const h = harness();
    h.sizes.set('big', 500); // alone: 500 ms
    for (let i = 0; i <= 40; i++) {
      if (i > 0) h.clock.advance(50);
      h.offer('big', i + 1);
    }
    assert.deepEqual(h.emitted, [
      [0, 'big', 1],
      [500, 'big', 10],
      [1000, 'big', 20],
      [1500, 'big', 30],
      [2000, 'big', 40],
    ]);
    h.clock.advance(500);
    assert.deepEqual(h.emitted.at(-1), [2500, 'big', 41]);
  });

  it('rooms are coalesced independently', () => {
    const h = harness();
    h.offer('a', 1);
    h.offer('b', 1);
    h.offer('a', 2);
    h.clock.advance(50);
    h.offer('b', 2);
    h.offer('b', 3);
    h.clock.advance(50);
    assert.deepEqual(h.emitted, [
      [0, 'a', 1],
      [0, 'b', 1],
      [100, 'a', 2],
      [100, 'b', 3],
    ]);
  });

  it('drops what is not newer than what it has, before and after an emission', () => {
    const h = harness();
    h.offer('v', 5);
    h.offer('v', 7);
    h.offer('v', 6); // late: older than 7
    h.offer('v', 7); // same version again
    assert.equal(h.coalescer.latest('v')?.version, 7);
    h.clock.advance(100);
    assert.deepEqual(h.emitted, [
      [0, 'v', 5],
      [100, 'v', 7],
    ]);
    h.offer('v', 7); // after the emission: what clients already have
    h.offer('v', 4); // and older than that
    h.clock.advance(1000);
    assert.equal(h.emitted.length, 2);
    assert.equal(h.clock.pendingTimers, 0);
  });

  it('latest() is the newest payload seen, the one the next emission will carry', () => {
    const h = harness();
    assert.equal(h.coalescer.latest('v'), undefined);
    h.offer('v', 1);
    h.offer('v', 2);
    assert.deepEqual(h.coalescer.latest('v'), { videoId: 'v', likes: 2, comments: 0, views: 0, version: 2, offset: 2 });
    assert.deepEqual(h.emitted, [[0, 'v', 1]], 'version 2 waits for the next interval');
    h.clock.advance(100);
    assert.deepEqual(h.emitted.at(-1), [100, 'v', 2]);
    assert.equal(h.coalescer.latest('v')?.version, 2, 'kept after the emission');
  });

  it('close() cancels pending emissions and forgets every video', () => {
    const h = harness();
    h.offer('a', 1);
    h.offer('a', 2);
    h.offer('b', 1);
    h.offer('b', 2);
    assert.equal(h.clock.pendingTimers, 2);
    h.coalescer.close();
    assert.equal(h.clock.pendingTimers, 0);
    h.clock.advance(10_000);
    assert.deepEqual(h.emitted, [
      [0, 'a', 1],
      [0, 'b', 1],
    ]);
    assert.equal(h.coalescer.latest('a'), undefined);
  });

  it('forgets videos that went quiet, so memory does not grow with every video ever offered', () => {
    const h = harness();
    for (let i = 0; i < 3000; i++) h.offer(`old${i}`, 1);
    h.clock.advance(60_000);
    for (let i = 0; i < 2048; i++) h.offer(`new${i}`, 1);
    assert.equal(h.coalescer.latest('old0'), undefined);
    assert.equal(h.coalescer.latest('old2999'), undefined);
    assert.equal(h.coalescer.latest('new2047')?.version, 1);
  });
});
