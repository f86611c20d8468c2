/**
 * What a sampled span in flight holds in the heap: 50,000 root spans started (with a like
 * event's attributes) and not yet ended, as thousands of likes waiting for their group commit
 * hold theirs, measured after full GCs against the heap before. Each is then ended and
 * exported, so the figure is of spans as they live, not of a leak. A diagnostic for otel.ts
 * changes, not a benchmark with a target:
 *
 *   node --expose-gc --import tsx bench/helpers/span-heap.ts
 */
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import type { SpanHandle } from '../../src/telemetry/tracing.ts';
import { startOtlpSink } from './otlp-sink.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const sink = await startOtlpSink();
const tracing = createOtelTracing({
  serviceName: 'span-heap',
  serviceVersion: '0',
  defaultRatio: 1,
  rules: [],
  exporterUrl: sink.url,
  env: {},
});
const N = 50_000;
const heap = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};
const sizes: number[] = [];
for (let round = 0; round < 5; round++) {
  const before = heap();
  const spans: SpanHandle[] = [];
  for (let i = 0; i < N; i++) {
    const span = tracing.start('video:like', {
      kind: 'server',
      parent: 'root',
      attributes: { 'rpc.system': 'socket.io', 'socketio.event': 'video:like', 'tremolo.video.id': `v${i}`, 'enduser.id': `u${i}` },
    });
    // what a like does with its span while it waits: its context goes with the actor message
    void span.context;
    spans.push(span);
  }
  sizes.push(Math.round((heap() - before) / N));
  for (const span of spans) span.end();
  await tracing.flush();
}
// the first round also counts what the first spans load (the exporter, its agent)
console.log(`bytes of heap per sampled span in flight (${N} spans, after GC), rounds 2-5: ${sizes.slice(1).join(' ')}`);
await tracing.shutdown();
sink.close();
