/**
 * What sampled spans cost in CPU, without HTTP or a server around them: each "request" is a
 * root span with an HTTP server span's attributes, a child started in its context (a store
 * call), the status set, both ended and exported over OTLP/HTTP to a sink in this process, as
 * at 100 % sampling. Prints CPU µs per request for each of 7 runs of 20,000 (the first run
 * includes warm-up). A diagnostic for otel.ts changes, not a benchmark with a target:
 *
 *   node --import tsx bench/helpers/span-cost.ts [ratio]
 */
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import { startOtlpSink } from './otlp-sink.ts';

const sink = await startOtlpSink();
const ratio = Number(process.argv[2] ?? '1');
const tracing = createOtelTracing({
  serviceName: 'span-cost',
  serviceVersion: '0',
  defaultRatio: ratio,
  rules: [],
  exporterUrl: sink.url,
  env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL },
});
const N = 20_000;
const request = (i: number) => {
  const span = tracing.start('GET /v1/feed', { kind: 'server', parent: 'root', attributes: { 'http.request.method': 'GET', 'http.route': '/v1/feed', 'url.scheme': 'http' } });
  span.ids();
  tracing.run(span.context, () => tracing.start('store.get', { childOnly: true }).end());
  if (span.recording) span.set({ 'http.response.status_code': 200, 'enduser.id': `u${i & 1023}` });
  span.end();
};
const runs: string[] = [];
for (let r = 0; r < 7; r++) {
  const cpu = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    request(i);
    // let exports run between requests, as a server's event loop does
    if ((i & 255) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await tracing.flush();
  const used = process.cpuUsage(cpu);
  runs.push(((used.user + used.system) / N).toFixed(2));
}
console.log(`ratio ${ratio}: CPU µs per request (a root and a child span, exported): ${runs.join(' ')}`);
await tracing.shutdown();
sink.close();
