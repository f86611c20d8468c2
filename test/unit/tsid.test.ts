import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ClockMovedBackwardsError, TsidGenerator, decodeTsid, encodeTsid, isTsid, tsidTime } from '../../src/domain/ids.ts';

describe('TSID', () => {
  it('is strictly increasing over 1M ids, as strings and as numbers', () => {
    const g = new TsidGenerator({ nodeId: 1 });
    let prev = g.next();
    for (let i = 0; i < 1_000_000; i++) {
      const id = g.next();
      if (!(id > prev)) assert.fail(`id ${id} is not greater than ${prev} at ${i}`);
      prev = id;
    }
    assert.equal(prev.length, 13);
    assert.ok(isTsid(prev));
  });

  it('encodes the layout: time, node, sequence', () => {
    let now = Date.UTC(2026, 0, 1);
    const g = new TsidGenerator({ nodeId: 1023, clock: { now: () => now } });
    const a = g.nextBigInt();
    const b = g.nextBigInt();
    assert.equal(b - a, 1n, 'same millisecond: the sequence counts');
    assert.equal(Number((a >> 12n) & 1023n), 1023);
    now += 5;
    const c = g.next();
    assert.equal(tsidTime(c), now);
    assert.equal(encodeTsid(decodeTsid(c)), c);
    assert.equal(decodeTsid(c) & 4095n, 0n, 'a new millisecond restarts the sequence');
  });

  it('string and bigint forms agree', () => {
    const now = Date.UTC(2027, 5, 6, 7, 8, 9, 123);
    const g1 = new TsidGenerator({ nodeId: 321, clock: { now: () => now } });
    const g2 = new TsidGenerator({ nodeId: 321, clock: { now: () => now } });
    for (let i = 0; i < 100; i++) assert.equal(g1.next(), encodeTsid(g2.nextBigInt()));
  });

  it('waits for the next millisecond when the sequence overflows', () => {
    let now = Date.UTC(2026, 0, 1);
    const waits: number[] = [];
    const g = new TsidGenerator({
      nodeId: 0,
      clock: { now: () => now },
      waitUntil: (ms) => {
        waits.push(ms);
        now += 1;
      },
    });
    const ids = Array.from({ length: 4097 }, () => g.nextBigInt());
    assert.equal(waits.length, 1);
    assert.equal(ids[4096]! >> 22n, (ids[0]! >> 22n) + 1n);
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!));
  });

  it('never issues a smaller id when the clock steps back: waits out small steps, fails on large ones', () => {
    let now = Date.UTC(2026, 0, 1);
    const g = new TsidGenerator({
      nodeId: 2,
      clock: { now: () => now },
      maxBackwardMs: 100,
      waitUntil: () => {
        now += 60; // the clock catches up while we wait
      },
    });
    const before = g.nextBigInt();
    now -= 50;
    const after = g.nextBigInt();
    assert.ok(after > before);
    now -= 5000;
    assert.throws(() => g.next(), ClockMovedBackwardsError);
  });

  it('refuses node ids outside 0..1023', () => {
    assert.throws(() => new TsidGenerator({ nodeId: 1024 }), RangeError);
    assert.throws(() => new TsidGenerator({ nodeId: -1 }), RangeError);
  });

  it('is unique across 4 worker threads with different node ids', async () => {
    const bootstrap = new URL('../helpers/ts-worker.mjs', import.meta.url);
    const entry = new URL('../helpers/tsid-worker.ts', import.meta.url).href;
    const lists = await Promise.all(
      [10, 11, 12, 13].map(
        (nodeId) =>
          new Promise<string[]>((resolve, reject) => {
            const w = new Worker(bootstrap, { workerData: { nodeId, entry } });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const all = new Set(lists.flat());
    assert.equal(all.size, 400_000);
  });
});
