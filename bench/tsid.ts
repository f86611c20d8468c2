/**
 * TSID generation rate: ids/s from TsidGenerator.next() (13-character strings),
 * against crypto.randomUUID() measured in the same run. Note the layout's ceiling:
 * 4096 ids per millisecond per node id, i.e. 4.096M ids/s.
 */
import { randomUUID } from 'node:crypto';
import { TsidGenerator } from '../src/domain/ids.ts';
import { report } from './report.ts';

function rate(fn: () => unknown, ms = 1500): number {
  for (let i = 0; i < 200_000; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  let sink = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < 10_000; i++) sink ^= (fn() as string).length;
    n += 10_000;
  }
  if (sink === -1) console.log(sink);
  return n / ((performance.now() - start) / 1000);
}

const g = new TsidGenerator({ nodeId: 1 });
const best = (fn: () => unknown) => Math.max(rate(fn), rate(fn), rate(fn));
const tsid = best(() => g.next());
const uuid = best(() => randomUUID());
console.log(`TsidGenerator.next(): ${(tsid / 1e6).toFixed(2)}M ids/s (ceiling 4.096M/s per node)`);
console.log(`crypto.randomUUID(): ${(uuid / 1e6).toFixed(2)}M ids/s`);
report('tsid', 'ids/s', tsid, uuid);
