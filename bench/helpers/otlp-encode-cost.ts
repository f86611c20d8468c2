/**
 * What writing a span into its OTLP export request costs, in each of OTLP/HTTP's encodings
 * (src/telemetry/otlp-proto.ts, otlp-json.ts): the two spans of a sampled feed request (the
 * server span and its store call) written into requests of 512 spans, in a loop, the encodings
 * alternated. Prints CPU ns and bytes per span for each, six times.
 *
 *   node --import tsx bench/helpers/otlp-encode-cost.ts
 */
import type { OtlpEncoder } from '../../src/telemetry/otlp-export.ts';
import { OtlpJsonEncoder } from '../../src/telemetry/otlp-json.ts';
import { OtlpProtoEncoder } from '../../src/telemetry/otlp-proto.ts';
import { ctx, spanRecord } from '../../test/helpers/span-records.ts';

const request = spanRecord({
  attributes: { 'http.request.method': 'GET', 'http.route': '/v1/feed', 'url.scheme': 'http', 'http.response.status_code': 200, 'enduser.id': '0ABCDEFGHJKMN' },
});
const storeCall = spanRecord({
  name: 'feed.following',
  kind: 2,
  parentSpanContext: ctx('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'),
  attributes: { 'db.system.name': 'memory', 'db.operation.name': 'feed.following' },
});
const SPANS = 200_000;

/** ns of CPU and bytes per span, over `SPANS` spans. */
function measure(encoder: OtlpEncoder): { ns: number; bytes: number } {
  let bytes = 0;
  const cpu = process.cpuUsage();
  for (let b = 0; b < SPANS / 512; b++) {
    const batch = encoder.batch(request);
    for (let i = 0; i < 256; i++) {
      batch.add(request);
      batch.add(storeCall);
    }
    bytes = batch.body().length;
  }
  const used = process.cpuUsage(cpu);
  return { ns: ((used.user + used.system) * 1000) / SPANS, bytes: bytes / 512 };
}

const encoders = { protobuf: new OtlpProtoEncoder(), json: new OtlpJsonEncoder() };
for (let round = 0; round < 6; round++) {
  const line = Object.entries(encoders).map(([name, encoder]) => {
    const { ns, bytes } = measure(encoder);
    return `${name} ${ns.toFixed(0)} ns, ${bytes.toFixed(0)} B per span`;
  });
  console.log(line.join('; '));
}
