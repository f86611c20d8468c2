/**
 * OTLP/HTTP's JSON encoding (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json), as the SDK's
 * JsonTraceSerializer writes it: hex ids, nanosecond strings, kind + 1, flags with the remote
 * bits, integers as numbers. Why it is written here, and as bytes: otlp-export.ts.
 */
import { ByteWriter, charCode, nanos, PerScope, SpanBatch, spanFlags, usualTime, type OtlpEncoder, type Resource, type Scope, type SpanAttributes, type SpanRecord } from './otlp-export.ts';

type HrTime = SpanRecord['startTime'];

/** ASCII text as bytes, for the JSON around the values. */
const ascii = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const QUOTE = 0x22;
const COMMA = 0x2c;
const ZERO = 0x30;
const K = {
  traceId: ascii('{"traceId":"'),
  spanId: ascii('","spanId":"'),
  parentSpanId: ascii('","parentSpanId":"'),
  traceState: ascii(',"traceState":'),
  name: ascii('","name":'),
  nameAfterState: ascii(',"name":'),
  kind: ascii(',"kind":'),
  start: ascii(',"startTimeUnixNano":'),
  end: ascii(',"endTimeUnixNano":'),
  attributes: ascii(',"attributes":['),
  droppedAttributes: ascii('],"droppedAttributesCount":'),
  events: ascii(',"events":['),
  eventAttributes: ascii('{"attributes":['),
  eventName: ascii('],"name":'),
  eventTime: ascii(',"timeUnixNano":'),
  droppedEventAttributes: ascii(',"droppedAttributesCount":'),
  droppedEvents: ascii('],"droppedEventsCount":'),
  status: ascii(',"status":{"code":'),
  message: ascii(',"message":'),
  links: ascii('},"links":['),
  linkSpanId: ascii('],"spanId":"'),
  linkTraceId: ascii('","traceId":"'),
  linkTraceState: ascii('"'),
  flags: ascii(',"flags":'),
  droppedLinks: ascii('],"droppedLinksCount":'),
  key: ascii('{"key":'),
  value: ascii(',"value":'),
  stringValue: ascii('{"stringValue":'),
  intValue: ascii('{"intValue":'),
  doubleValue: ascii('{"doubleValue":'),
  boolTrue: ascii('{"boolValue":true}'),
  boolFalse: ascii('{"boolValue":false}'),
  bytesValue: ascii('{"bytesValue":'),
  arrayValue: ascii('{"arrayValue":{"values":['),
  kvlistValue: ascii('{"kvlistValue":{"values":['),
  listEnd: ascii(']}}'),
  empty: ascii('{}'),
} as const;

/** JSON written into a ByteWriter: a byte at a time for ASCII, by `Buffer.write` for anything else. */
class JsonBytes extends ByteWriter {
  /** Text known to be ASCII (hex ids, numbers), as it is. */
  ascii(text: string): void {
    const n = text.length;
    this.reserve(n);
    for (let i = 0; i < n; i++) this.bytes[this.length++] = charCode(text, i);
  }

  /** Any text as a JSON string: printable ASCII a byte at a time, the rest escaped by JSON.stringify. */
  string(text: string): void {
    const n = text.length;
    this.reserve(n + 2);
    const start = this.length;
    this.bytes[this.length++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = charCode(text, i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) {
        this.length = start;
        return this.utf8(JSON.stringify(text));
      }
      this.bytes[this.length++] = c;
    }
    this.bytes[this.length++] = QUOTE;
  }

  /** `,"name":"value"`, or nothing when there is no value. */
  field(name: string, value: string | undefined): void {
    if (value === undefined) return;
    this.ascii(`,"${name}":`);
    this.string(value);
  }

  utf8(text: string): void {
    this.reserve(text.length * 3);
    this.length += this.bytes.write(text, this.length);
  }

  /** A non-negative integer's digits, `width` at least (zero-padded), without making a string. */
  digits(n: number, width = 1): void {
    let count = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) count++;
    const w = Math.max(count, width);
    this.reserve(w);
    for (let i = this.length + w - 1; i >= this.length; i--, n = Math.floor(n / 10)) this.bytes[i] = ZERO + (n % 10);
    this.length += w;
  }

  /** [s, ns] as the decimal string of nanoseconds, as `nanos` makes it. */
  time(t: HrTime): void {
    if (!usualTime(t)) return this.string(nanos(t));
    this.byte(QUOTE);
    this.digits(t[0]);
    this.digits(t[1], 9);
    this.byte(QUOTE);
  }

  /** An OTLP AnyValue, as the SDK's JSON serializer writes it (integers as numbers). */
  anyValue(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.raw(K.stringValue);
        this.string(v);
        return this.byte(0x7d);
      case 'number':
        if (Number.isSafeInteger(v) && v >= 0) {
          this.raw(K.intValue);
          this.digits(v);
        } else {
          this.raw(Number.isInteger(v) ? K.intValue : K.doubleValue);
          this.ascii(JSON.stringify(v));
        }
        return this.byte(0x7d);
      case 'boolean':
        return this.raw(v ? K.boolTrue : K.boolFalse);
    }
    if (v instanceof Uint8Array) {
      this.raw(K.bytesValue);
      this.string(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
      return this.byte(0x7d);
    }
    if (Array.isArray(v)) {
      this.raw(K.arrayValue);
      for (let i = 0; i < v.length; i++) {
        if (i) this.byte(COMMA);
        this.anyValue(v[i]);
      }
      return this.raw(K.listEnd);
    }
    if (typeof v === 'object' && v !== null) {
      this.raw(K.kvlistValue);
      this.keyValues(v as SpanAttributes);
      return this.raw(K.listEnd);
    }
    this.raw(K.empty);
  }

  keyValues(attributes: SpanAttributes): void {
    // Object.keys, not for-in: spans of many kinds (HTTP, turns, scripts) come through here with
    // attribute objects of as many shapes, and a for-in over objects of changing shapes takes
    // V8's slow path, a property lookup per key (1.9 µs for the 5 attributes of a feed request)
    const keys = Object.keys(attributes);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (i > 0) this.byte(COMMA);
      this.raw(K.key);
      this.string(key);
      this.raw(K.value);
      this.anyValue(attributes[key]);
      this.byte(0x7d);
    }
  }

  /** One span's OTLP JSON object. */
  span(s: SpanRecord): void {
    const ctx = s.spanContext();
    const parent = s.parentSpanContext;
    const traceState = ctx.traceState?.serialize();
    this.raw(K.traceId);
    this.ascii(ctx.traceId);
    this.raw(K.spanId);
    this.ascii(ctx.spanId);
    if (parent?.spanId) {
      this.raw(K.parentSpanId);
      this.ascii(parent.spanId);
    }
    if (traceState !== undefined) {
      this.byte(QUOTE);
      this.raw(K.traceState);
      this.string(traceState);
      this.raw(K.nameAfterState);
    } else {
      this.raw(K.name);
    }
    this.string(s.name);
    this.raw(K.kind);
    this.digits(s.kind + 1);
    this.raw(K.start);
    this.time(s.startTime);
    this.raw(K.end);
    this.time(s.endTime);
    this.raw(K.attributes);
    this.keyValues(s.attributes);
    this.raw(K.droppedAttributes);
    this.digits(s.droppedAttributesCount);
    this.raw(K.events);
    for (let i = 0; i < s.events.length; i++) {
      const e = s.events[i]!;
      if (i) this.byte(COMMA);
      this.raw(K.eventAttributes);
      if (e.attributes) this.keyValues(e.attributes);
      this.raw(K.eventName);
      this.string(e.name);
      this.raw(K.eventTime);
      this.time(e.time);
      this.raw(K.droppedEventAttributes);
      this.digits(e.droppedAttributesCount ?? 0);
      this.byte(0x7d);
    }
    this.raw(K.droppedEvents);
    this.digits(s.droppedEventsCount);
    this.raw(K.status);
    this.digits(s.status.code);
    if (s.status.message !== undefined) {
      this.raw(K.message);
      this.string(s.status.message);
    }
    this.raw(K.links);
    for (let i = 0; i < s.links.length; i++) {
      const l = s.links[i]!;
      const ts = l.context.traceState?.serialize();
      if (i) this.byte(COMMA);
      this.raw(K.eventAttributes);
      if (l.attributes) this.keyValues(l.attributes);
      this.raw(K.linkSpanId);
      this.ascii(l.context.spanId);
      this.raw(K.linkTraceId);
      this.ascii(l.context.traceId);
      this.raw(K.linkTraceState);
      if (ts !== undefined) {
        this.raw(K.traceState);
        this.string(ts);
      }
      this.raw(K.droppedEventAttributes);
      this.digits(l.droppedAttributesCount ?? 0);
      this.raw(K.flags);
      this.digits(spanFlags(l.context, l.context.isRemote));
      this.byte(0x7d);
    }
    this.raw(K.droppedLinks);
    this.digits(s.droppedLinksCount);
    this.raw(K.flags);
    this.digits(spanFlags(ctx, parent?.isRemote));
    this.byte(0x7d);
  }
}

/** A JSON request: its head (resource, scope) written first, spans comma-separated, its tail at the end. */
class JsonSpanBatch extends SpanBatch {
  readonly #json: JsonBytes;

  constructor(resource: Resource, scope: Scope, head: Uint8Array, private readonly tail: Uint8Array, capacity: number) {
    super(resource, scope);
    this.#json = new JsonBytes(Math.max(capacity, head.length + tail.length));
    this.#json.raw(head);
  }

  get byteLength(): number {
    return this.#json.length;
  }

  protected write(span: SpanRecord): void {
    if (this.count > 0) this.#json.byte(COMMA);
    this.#json.span(span);
  }

  protected finish(): Buffer {
    this.#json.raw(this.tail);
    return this.#json.written();
  }
}

export class OtlpJsonEncoder implements OtlpEncoder {
  readonly contentType = 'application/json';
  readonly #ends = new PerScope(requestEnds);
  /** Never sent, never read: kept for its shape, which is the requests' (OtlpEncoder, otlp-export.ts). */
  // eslint-disable-next-line no-unused-private-class-members -- held, not read
  #keepShape: SpanBatch | undefined;

  batch(first: SpanRecord, capacity = 16_384): SpanBatch {
    const { head, tail } = this.#ends.of(first);
    this.#keepShape ??= new JsonSpanBatch(first.resource, first.instrumentationScope, head, tail, 0);
    return new JsonSpanBatch(first.resource, first.instrumentationScope, head, tail, capacity);
  }
}

/** The JSON of a request before its first span and after its last. */
function requestEnds(resource: Resource, scope: Scope): { head: Uint8Array; tail: Uint8Array } {
  // an empty schema URL of the resource is left out, as the SDK's serializer does
  const resourceSchema = resource.schemaUrl || undefined;
  const head = new JsonBytes(1024);
  head.ascii('{"resourceSpans":[{"resource":{"attributes":[');
  head.keyValues(resource.attributes);
  head.ascii('],"droppedAttributesCount":0');
  head.field('schemaUrl', resourceSchema);
  head.ascii('},"scopeSpans":[{"scope":{"name":');
  head.string(scope.name);
  head.field('version', scope.version);
  head.ascii('},"spans":[');
  const tail = new JsonBytes(256);
  tail.ascii(']');
  tail.field('schemaUrl', scope.schemaUrl);
  tail.ascii('}]');
  tail.field('schemaUrl', resourceSchema);
  tail.ascii('}]}');
  return { head: head.written(), tail: tail.written() };
}
