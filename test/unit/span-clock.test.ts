import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanClock } from '../../src/telemetry/span-clock.ts';

/** A wall clock in whole milliseconds, as Date.now() is, and a monotonic one in fractions, both moved by hand. */
function clocks(wallStart: number) {
  const t = { wall: wallStart + 0.9, mono: 1000.9 };
  return {
    t,
    wall: () => Math.floor(t.wall),
    mono: () => t.mono,
    advance(ms: number) {
      t.wall += ms;
      t.mono += ms;
    },
  };
}

describe('SpanClock', () => {
  it('carries the wall clock on with the monotonic one: sub-millisecond, so a child started in the next millisecond still ends within its parent', () => {
    const c = clocks(1_700_000_000_000);
    const clock = new SpanClock(c.wall, c.mono);
    const parentStart = clock.now();
    c.advance(0.2); // the wall clock turns to the next millisecond here
    const childStart = clock.now();
    const trueTime = c.t.wall;
    c.advance(0.5);
    const childEnd = clock.now();
    c.advance(0.1);
    const parentEnd = clock.now();
    assert.ok(parentStart < childStart && childStart < childEnd && childEnd < parentEnd, `${parentStart} ${childStart} ${childEnd} ${parentEnd}`);
    assert.ok(Math.abs(childStart - trueTime) <= 1, 'within the wall clock\'s millisecond of the true time');
  });

  it('follows the wall clock when the two part by more than maxDriftMs, and not before', () => {
    const c = clocks(1_700_000_000_000);
    const clock = new SpanClock(c.wall, c.mono, 50);
    const before = clock.now();
    c.t.wall += 40; // slewed, within the bound: the monotonic clock still rules
    assert.ok(Math.abs(clock.now() - before) < 1e-6);
    c.t.wall += 1000; // stepped
    assert.equal(clock.now(), Math.floor(c.t.wall));
    c.advance(5);
    assert.ok(Math.abs(clock.now() - (Math.floor(c.t.wall - 5) + 5)) < 1e-6, 'carried on from the new reading');
  });
});
