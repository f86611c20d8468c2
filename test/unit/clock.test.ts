import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, systemClock } from '../../src/domain/clock.ts';

describe('ManualClock', () => {
  it('fires an interval once per period on advance(), at the due times', () => {
    const clock = new ManualClock(0);
    const at: number[] = [];
    clock.setInterval(() => at.push(clock.now()), 100);
    clock.advance(99);
    assert.deepEqual(at, []);
    clock.advance(251);
    assert.deepEqual(at, [100, 200, 300]);
    assert.equal(clock.now(), 350);
  });

  it('interleaves intervals and timeouts in time order', () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    clock.setInterval(() => seen.push(`i${clock.now()}`), 100);
    clock.setTimeout(() => seen.push(`t${clock.now()}`), 150);
    clock.advance(300);
    assert.deepEqual(seen, ['i100', 't150', 'i200', 'i300']);
  });

  it('stops an interval on clearInterval, also from inside its own callback', () => {
    const clock = new ManualClock(0);
    let runs = 0;
    const h = clock.setInterval(() => {
      if (++runs === 2) clock.clearInterval(h);
    }, 10);
    clock.advance(100);
    assert.equal(runs, 2);
    assert.equal(clock.pendingTimers, 0);
  });

  it('treats a zero period as 1 ms instead of looping forever', () => {
    const clock = new ManualClock(0);
    let runs = 0;
    clock.setInterval(() => runs++, 0);
    clock.advance(5);
    assert.equal(runs, 5);
  });
});

describe('systemClock', () => {
  it('runs and clears a real interval', async () => {
    let runs = 0;
    await new Promise<void>((resolve) => {
      const h = systemClock.setInterval(() => {
        if (++runs === 3) {
          systemClock.clearInterval(h);
          resolve();
        }
      }, 1);
    });
    assert.equal(runs, 3);
  });
});
