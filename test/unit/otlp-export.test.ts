import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { nanos, type OtlpEncoder, type SpanRecord } from '../../src/telemetry/otlp-export.ts';
import { OtlpJsonEncoder } from '../../src/telemetry/otlp-json.ts';
import { OtlpProtoEncoder } from '../../src/telemetry/otlp-proto.ts';
import { decodeTraceRequest } from '../helpers/otlp-proto.ts';
import { ctx, spanRecord } from '../helpers/span-records.ts';

/** The body of the request `spans` make, all of one resource and scope. */
function body(encoder: OtlpEncoder, spans: readonly SpanRecord[], capacity?: number): Buffer {
  const batch = encoder.batch(spans[0]!, capacity);
  for (const s of spans) batch.add(s);
  return batch.body();
}

/** The request `spans` make, as JSON. */
const request = (spans: readonly SpanRecord[], capacity?: number): unknown => JSON.parse(body(new OtlpJsonEncoder(), spans, capacity).toString());

const record = spanRecord;

/** The SDK reads more of a span than SpanRecord names; these spans carry nothing of it. */
type SdkSpans = Parameters<typeof JsonTraceSerializer.serializeRequest>[0];

const parent = ctx('0af7651916cd43dd8448eb211c80319c', '00f067aa0ba902b7', 1, true);

/** Spans with something of everything a span can carry. */
const assorted: readonly SpanRecord[] = [
  record(),
  record({ name: 'turn', kind: 0, parentSpanContext: parent, status: { code: 2, message: 'E_BUSY' }, links: [{ context: ctx('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b8'), attributes: { n: 3 } }] }),
  record({ events: [{ name: 'exception', time: [1_764_000_000, 900], attributes: { 'exception.type': 'TremoloError' } }], attributes: { list: ['a', 'b'], big: 2 ** 40, neg: -1.25 } }),
  // trace state on the span and on a link; text that JSON escapes; times out of the usual range
  record({
    spanContext: () => ({ ...ctx('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203332'), traceState: { serialize: () => 'rojo=00f067aa0ba902b7' } }),
    parentSpanContext: parent,
    name: 'tab\there "quoted" \\ back 标签',
    links: [{ context: { ...ctx('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b9'), traceState: { serialize: () => 'congo=t61rcWkgMzE' } } }],
    attributes: { nested: { a: 1, b: [true, false] }, bytes: new Uint8Array([1, 2, 250]), zero: 0 },
    startTime: [0, 7],
    endTime: [1, 0],
  }),
];

describe('OTLP JSON encoding', () => {
  it('writes spans as the OTLP JSON that receivers read: hex ids, nanosecond strings, kind + 1, typed values', () => {
    const linked = ctx('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b8');
    const payload = request([
        record(),
        record({
          name: 'actor.turn video',
          kind: 0,
          parentSpanContext: parent,
          status: { code: 2, message: 'E_BUSY' },
          links: [{ context: linked }],
          events: [{ name: 'exception', time: [1_764_000_000, 900], attributes: { 'exception.type': 'TremoloError' } }],
        }),
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed payload, read field by field below
      ]) as any;
    assert.equal(payload.resourceSpans.length, 1);
    const [rs] = payload.resourceSpans;
    assert.deepEqual(rs.resource, {
      attributes: [
        { key: 'service.name', value: { stringValue: 'svc' } },
        { key: 'service.version', value: { stringValue: '1' } },
      ],
      droppedAttributesCount: 0,
    });
    assert.deepEqual(rs.scopeSpans[0].scope, { name: 'tremolo', version: '1' });
    const [root, turn] = rs.scopeSpans[0].spans;
    assert.equal(root.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(root.parentSpanId, undefined);
    assert.equal(root.kind, 2);
    assert.equal(root.startTimeUnixNano, '1764000000000000005');
    assert.equal(root.endTimeUnixNano, '1764000001123456789');
    assert.deepEqual(root.attributes, [
      { key: 'http.route', value: { stringValue: '/v1/feed' } },
      { key: 'http.response.status_code', value: { intValue: 200 } },
      { key: 'ratio', value: { doubleValue: 0.5 } },
      { key: 'ok', value: { boolValue: true } },
      { key: 'note', value: { stringValue: 'a "quoted"\nline' } },
    ]);
    assert.deepEqual(root.status, { code: 0 });
    assert.equal(root.flags, 0x101);
    assert.equal(turn.parentSpanId, '00f067aa0ba902b7');
    assert.equal(turn.kind, 1);
    assert.deepEqual(turn.status, { code: 2, message: 'E_BUSY' });
    assert.equal(turn.flags, 0x301, 'a remote parent sets the is-remote bit');
    assert.deepEqual(turn.links, [{ attributes: [], spanId: '00f067aa0ba902b8', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', droppedAttributesCount: 0, flags: 0x101 }]);
    assert.deepEqual(turn.events, [
      { attributes: [{ key: 'exception.type', value: { stringValue: 'TremoloError' } }], name: 'exception', timeUnixNano: '1764000000000000900', droppedAttributesCount: 0 },
    ]);
  });

  it("writes the same request as the SDK's JSON serializer, whose place it takes", () => {
    const sdk = JsonTraceSerializer.serializeRequest(assorted as unknown as SdkSpans);
    assert.ok(sdk);
    assert.deepEqual(request(assorted), JSON.parse(Buffer.from(sdk).toString()));
    // a request outgrows the room it started with and is moved, whole
    assert.deepEqual(request(assorted, 16), JSON.parse(Buffer.from(sdk).toString()));
  });

  it("writes a resource's and a scope's schema URL and version where the SDK's serializer does", () => {
    const withSchemas = {
      resource: { attributes: { 'service.name': 'svc' }, schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' },
      instrumentationScope: { name: 'tremolo', version: '2', schemaUrl: 'https://opentelemetry.io/schemas/1.25.0' },
    };
    const spans = [record(withSchemas), record(withSchemas)];
    const sdk = JsonTraceSerializer.serializeRequest(spans as unknown as SdkSpans);
    assert.ok(sdk);
    const ours = request(spans) as { resourceSpans: { schemaUrl?: string; scopeSpans: { schemaUrl?: string }[] }[] };
    assert.equal(ours.resourceSpans[0]!.schemaUrl, 'https://opentelemetry.io/schemas/1.24.0');
    assert.equal(ours.resourceSpans[0]!.scopeSpans[0]!.schemaUrl, 'https://opentelemetry.io/schemas/1.25.0');
    assert.deepEqual(ours, JSON.parse(Buffer.from(sdk).toString()));
  });

  it('writes text beyond ASCII as UTF-8, however much room was left', () => {
    const name = 'GET /v1/tags/:tag 标签 🎬';
    const spans = Array.from({ length: 20 }, () => record({ name, attributes: { tag: '舞蹈'.repeat(50) } }));
    const payload = request(spans, 64) as { resourceSpans: { scopeSpans: { spans: { name: string; attributes: { value: { stringValue: string } }[] }[] }[] }[] };
    const out = payload.resourceSpans[0]!.scopeSpans[0]!.spans;
    assert.equal(out.length, 20);
    assert.ok(out.every((s) => s.name === name && s.attributes[0]!.value.stringValue === '舞蹈'.repeat(50)));
  });

  it('holds the spans of one resource and scope, and takes nothing once its body is written (either encoding)', () => {
    for (const encoder of [new OtlpJsonEncoder(), new OtlpProtoEncoder()]) {
      const batch = encoder.batch(record());
      assert.equal(batch.holds(record()), true);
      assert.equal(batch.holds(record({ resource: { attributes: { 'service.name': 'other' } } })), false);
      assert.equal(batch.holds(record({ instrumentationScope: { name: 'x' } })), false);
      batch.add(record());
      const written = batch.body();
      assert.equal(batch.body(), written, 'the body is written once (a retry sends the same bytes)');
      assert.throws(() => batch.add(record()), /no span once its body is written/);
      assert.equal(batch.count, 1);
    }
  });

  it('turns [seconds, nanoseconds] into a decimal string, exactly', () => {
    assert.equal(nanos([1_764_000_000, 0]), '1764000000000000000');
    assert.equal(nanos([1, 999_999_999]), '1999999999');
    assert.equal(nanos([0, 42]), '42');
  });
});

describe('OTLP protobuf encoding', () => {
  const decoded = (spans: readonly SpanRecord[], capacity?: number) => decodeTraceRequest(body(new OtlpProtoEncoder(), spans, capacity));
  const sdk = (spans: readonly SpanRecord[]) => decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans as unknown as SdkSpans)!);
  type Decoded = { resourceSpans: { schemaUrl: string; scopeSpans: { schemaUrl: string; spans: Record<string, unknown>[] }[] }[] };

  it("writes the same request as the SDK's protobuf serializer, field for field", () => {
    assert.deepEqual(decoded(assorted), sdk(assorted));
    // a request outgrows the room it started with and is moved, whole
    assert.deepEqual(decoded(assorted, 16), sdk(assorted));
    const [, turn, withEvent, odd] = (decoded(assorted) as Decoded).resourceSpans[0]!.scopeSpans[0]!.spans;
    assert.equal(turn!.parentSpanId, '00f067aa0ba902b7');
    assert.equal(turn!.flags, 0x301, 'a remote parent sets the is-remote bit');
    assert.deepEqual(turn!.status, { code: 2, message: 'E_BUSY' });
    assert.equal((withEvent!.events as { timeUnixNano: string }[])[0]!.timeUnixNano, '1764000000000000900');
    assert.equal(odd!.traceState, 'rojo=00f067aa0ba902b7');
    assert.equal(odd!.startTimeUnixNano, '7');
  });

  it("writes a resource's and a scope's schema URL and version where the SDK's serializer does", () => {
    const withSchemas = {
      resource: { attributes: { 'service.name': 'svc' }, schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' },
      instrumentationScope: { name: 'tremolo', version: '2', schemaUrl: 'https://opentelemetry.io/schemas/1.25.0' },
    };
    const spans = [record(withSchemas), record(withSchemas)];
    const ours = decoded(spans) as Decoded;
    assert.equal(ours.resourceSpans[0]!.schemaUrl, 'https://opentelemetry.io/schemas/1.24.0');
    assert.equal(ours.resourceSpans[0]!.scopeSpans[0]!.schemaUrl, 'https://opentelemetry.io/schemas/1.25.0');
    assert.deepEqual(ours, sdk(spans));
  });

  it('writes numbers as int64 or double, and lengths of any size, as the SDK does', () => {
    const spans = [
      record({ attributes: { neg: -1, min: -(2 ** 63), max: 2 ** 63 - 1024, beyond: 2 ** 63, safe: Number.MAX_SAFE_INTEGER, tiny: 5e-324, inf: Infinity, nan: NaN } }),
      // lengths of one, two and three bytes, for a value, its key-value and the span
      record({ name: 'x'.repeat(127), attributes: { a: 'y'.repeat(128), b: 'z'.repeat(20_000), c: '字'.repeat(50), d: '🎬'.repeat(40) } }),
      record({ attributes: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])) }),
    ];
    assert.deepEqual(decoded(spans, 64), sdk(spans));
  });

  it('writes [seconds, nanoseconds] as the exact fixed64 nanoseconds, beyond 2^53 and 2^32 seconds', () => {
    const times: [number, number][] = [
      [1_764_000_000, 5],
      [1_764_000_000, 999_999_999],
      [2 ** 32 - 1, 999_999_999],
      [2 ** 32, 1],
      [4_102_444_800, 0],
      [1, 0],
      [0, 7],
    ];
    for (const t of times) {
      const span = (decoded([record({ startTime: t, endTime: t })]) as Decoded).resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
      assert.equal(span.startTimeUnixNano, (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString(), `${t}`);
      assert.equal(span.endTimeUnixNano, span.startTimeUnixNano);
    }
  });

  it('names its content types, and a protobuf request is about a third of the JSON one', () => {
    assert.equal(new OtlpProtoEncoder().contentType, 'application/x-protobuf');
    assert.equal(new OtlpJsonEncoder().contentType, 'application/json');
    const spans = Array.from({ length: 50 }, () => record());
    const ratio = body(new OtlpProtoEncoder(), spans).length / body(new OtlpJsonEncoder(), spans).length;
    assert.ok(ratio < 0.45, `protobuf / JSON = ${ratio}`);
  });
});
