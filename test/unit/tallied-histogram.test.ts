/**
 * TalliedHistogram against prom-client's own Histogram: the same observations give the same
 * exposition, in the Prometheus and the OpenMetrics formats, exemplars included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry, type RegistryContentType } from 'prom-client';
import { TalliedHistogram } from '../../src/tallied-histogram.ts';

const buckets = [0.001, 0.01, 0.1, 1];
const observations: [method: string, route: string, status: string, seconds: number][] = [
  ['GET', '/v1/feed', '200', 0.0004],
  ['GET', '/v1/feed', '200', 0.001], // on a bound: counted in it (le)
  ['GET', '/v1/feed', '200', 0.05],
  ['GET', '/v1/feed', '429', 0.002],
  ['POST', '/v1/videos', '201', 3], // above every bound: only +Inf
  ['GET', 'unknown', '404', 0],
];

function registries(openMetrics: boolean): [Registry, Registry] {
  const pair: [Registry, Registry] = [new Registry(), new Registry()];
  if (openMetrics) for (const r of pair) (r as Registry<RegistryContentType>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return pair;
}

describe('TalliedHistogram', () => {
  for (const openMetrics of [false, true]) {
    it(`exposes what prom-client's Histogram does (${openMetrics ? 'OpenMetrics, with exemplars' : 'Prometheus'})`, async () => {
      const [theirs, ours] = registries(openMetrics);
      const opts = { name: 'http_seconds', help: 'HTTP request duration', labelNames: ['method', 'route', 'status'] as const, buckets, enableExemplars: openMetrics };
      const reference = new Histogram({ ...opts, labelNames: [...opts.labelNames], registers: [theirs] });
      const tallied = new TalliedHistogram({ ...opts, registers: [ours] });
      observations.forEach(([method, route, status, seconds], i) => {
        const exemplar: Record<string, string> = i % 2 === 0 ? { trace_id: `${i}`.padStart(32, '0'), span_id: `${i}`.padStart(16, '0') } : {};
        if (openMetrics) reference.observe({ labels: { method, route, status }, value: seconds, exemplarLabels: exemplar as never }); // its type wants the metric's own label names
        else reference.observe({ method, route, status }, seconds);
        tallied.observe([method, route, status], seconds, exemplar);
      });
      // exemplar timestamps are the time of observation: compare them apart
      const stamp = /( # \{[^}]*\} \S+) \d+(\.\d+)?$/gm;
      const [a, b] = [await theirs.metrics(), await ours.metrics()];
      assert.equal(b.replace(stamp, '$1 T'), a.replace(stamp, '$1 T'));
      if (openMetrics) assert.match(b, /^http_seconds_bucket\{le="0\.001",method="GET",route="\/v1\/feed",status="200"\} 2 # \{trace_id="0+",span_id="0+"\} 0\.0004 \d/m);
      else assert.doesNotMatch(b, /#\s*\{/);
      assert.match(b, /^http_seconds_count\{method="GET",route="\/v1\/feed",status="200"\} 3$/m);
    });
  }

  it('refuses a wrong number of label values and values that are not numbers; reset empties it', async () => {
    const registry = new Registry();
    const h = new TalliedHistogram({ name: 'h', help: 'h', labelNames: ['a', 'b'], buckets, registers: [registry] });
    assert.throws(() => h.observe(['x'], 1), RangeError);
    assert.throws(() => h.observe(['x', 'y'], Number.NaN), TypeError);
    h.observe(['x', 'y'], 1);
    assert.match(await registry.metrics(), /^h_count\{a="x",b="y"\} 1$/m);
    h.reset();
    assert.doesNotMatch(await registry.metrics(), /h_count/);
  });
});
