/**
 * OTLP/HTTP's protobuf encoding (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf, the default),
 * field for field what the SDK's ProtobufTraceSerializer writes, less the zero counts that
 * proto3 leaves out anyway. Why it is written here, and as bytes: otlp-export.ts. Against the
 * JSON encoding a span is about a third of the bytes, and cheaper to write: ids go as their
 * bytes and times as two words, not as hex and decimal text to be copied and parsed again.
 *
 * Field numbers are those of opentelemetry/proto (trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto, collector/trace/v1/trace_service.proto).
 */
import { ByteWriter, charCode, nanos, PerScope, SpanBatch, spanFlags, usualTime, type OtlpEncoder, type Resource, type Scope, type SpanAttributes, type SpanRecord } from './otlp-export.ts';

type HrTime = SpanRecord['startTime'];

/** Wire types. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;
/** A field's key (a varint: one byte for fields below 16). */
const key = (field: number, wire: number): number => (field << 3) | wire;

const TWO_32 = 0x1_0000_0000;

/**
 * The value of each hex digit, by character code (the ids are hex, as the SDK makes and checks
 * them). A table, not a comparison: random ids mix digits and letters at random, and the branch
 * of a comparison was mispredicted half the time (46 against 141 ns an id in a loop).
 */
const HEX_VALUES = (() => {
  const values = new Uint8Array(128);
  for (let d = 0; d < 16; d++) {
    const digit = d.toString(16);
    values[digit.charCodeAt(0)] = d;
    values[digit.toUpperCase().charCodeAt(0)] = d;
  }
  return values;
})();

const varintSize = (n: number): number => {
  let size = 1;
  for (; n >= 0x80; n = Math.floor(n / 0x80)) size++;
  return size;
};

/** Protobuf written into a ByteWriter. */
class ProtoBytes extends ByteWriter {
  /** A non-negative integer below 2^53 as a varint. */
  varint(n: number): void {
    this.reserve(8);
    this.length = this.varintAt(this.length, n);
  }

  /** A varint at `at`, in room already there; returns where it ends. */
  varintAt(at: number, n: number): number {
    while (n >= 0x80) {
      // `&` reads the low 32 bits of any integer below 2^53, which hold the low 7
      this.bytes[at++] = (n & 0x7f) | 0x80;
      n = n < TWO_32 ? n >>> 7 : Math.floor(n / 0x80);
    }
    this.bytes[at++] = n;
    return at;
  }

  /** An int64 as a varint: negative numbers as their 64-bit two's complement (ten bytes). */
  int64(n: number): void {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) return this.varint(n);
    let hi = Math.floor(n / TWO_32);
    let lo = (n - hi * TWO_32) >>> 0;
    hi >>>= 0;
    this.reserve(10);
    while (hi > 0 || lo >= 0x80) {
      this.bytes[this.length++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.bytes[this.length++] = lo;
  }

  uint32Field(field: number, n: number): void {
    this.byte(key(field, VARINT));
    this.varint(n);
  }

  /** A count, left out when zero (proto3's default). */
  countField(field: number, n: number | undefined): void {
    if (n) this.uint32Field(field, n);
  }

  word(n: number): void {
    this.reserve(4);
    this.bytes.writeUInt32LE(n >>> 0, this.length);
    this.length += 4;
  }

  /** A string's UTF-8 bytes with their length: ASCII a byte at a time, the rest by `Buffer.write`. */
  stringField(field: number, text: string): void {
    this.byte(key(field, LEN));
    const start = this.length;
    const n = text.length;
    this.varint(n);
    this.reserve(n);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const c = charCode(text, i);
      if (c > 0x7f) {
        this.length = start;
        const size = Buffer.byteLength(text);
        this.varint(size);
        this.reserve(size);
        this.length += this.bytes.write(text, this.length);
        return;
      }
      bytes[at++] = c;
    }
    this.length = at;
  }

  /** A trace or span id, given in hex, as its bytes. */
  idField(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.reserve(n + 2);
    this.bytes[this.length++] = key(field, LEN);
    this.bytes[this.length++] = n;
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < hex.length; i += 2) bytes[at++] = (HEX_VALUES[charCode(hex, i)]! << 4) | HEX_VALUES[charCode(hex, i + 1)]!;
    this.length = at;
  }

  /** [s, ns] as fixed64 nanoseconds, without BigInt until the year 2106. */
  timeField(field: number, t: HrTime): void {
    this.byte(key(field, I64));
    const [s, ns] = t;
    if (!usualTime(t) || s >= TWO_32) {
      const n = BigInt.asUintN(64, BigInt(nanos(t)));
      this.word(Number(n & 0xffff_ffffn));
      return this.word(Number(n >> 32n));
    }
    // s * 1e9 + ns = (high * 2^16 + low) * 1e9 + ns, every product exact in a double
    const high = Math.floor(s / 0x1_0000) * 1e9;
    const low = (high % 0x1_0000) * 0x1_0000 + (s % 0x1_0000) * 1e9 + ns;
    this.word(low);
    this.word(Math.floor(high / 0x1_0000) + Math.floor(low / TWO_32));
  }

  /**
   * Opens a length-delimited field: writes its key and leaves `room` bytes for its length, which
   * `close` fills in (moving what was written if the length needs more or fewer bytes).
   */
  open(field: number, room = 1): number {
    this.reserve(1 + room);
    this.bytes[this.length++] = key(field, LEN);
    const at = this.length;
    this.length += room;
    return at;
  }

  close(at: number, room = 1): void {
    const n = this.length - at - room;
    const size = varintSize(n);
    if (size !== room) {
      this.reserve(size - room);
      this.bytes.copyWithin(at + size, at + room, this.length);
      this.length += size - room;
    }
    this.varintAt(at, n);
  }

  /** An OTLP AnyValue's fields, as the SDK's serializer writes them. */
  anyValue(v: unknown): void {
    switch (typeof v) {
      case 'string':
        return this.stringField(1, v);
      case 'boolean':
        return this.uint32Field(2, v ? 1 : 0);
      case 'number':
        if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) {
          this.byte(key(3, VARINT));
          return this.int64(v);
        }
        this.byte(key(4, I64));
        this.reserve(8);
        this.length = this.bytes.writeDoubleLE(v, this.length);
        return;
    }
    if (v instanceof Uint8Array) {
      this.byte(key(7, LEN));
      this.varint(v.byteLength);
      return this.raw(v);
    }
    if (Array.isArray(v)) {
      const at = this.open(5);
      for (const item of v) {
        const value = this.open(1);
        this.anyValue(item);
        this.close(value);
      }
      return this.close(at);
    }
    if (typeof v === 'object' && v !== null) {
      const at = this.open(6);
      this.keyValues(1, v as SpanAttributes);
      return this.close(at);
    }
    // null or undefined: an AnyValue with nothing set
  }

  /** Attributes as repeated KeyValue in `field`. */
  keyValues(field: number, attributes: SpanAttributes): void {
    // Object.keys, not for-in: see JsonBytes.keyValues (otlp-json.ts)
    const keys = Object.keys(attributes);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const at = this.open(field);
      this.stringField(1, k);
      const value = this.open(2);
      this.anyValue(attributes[k]);
      this.close(value);
      this.close(at);
    }
  }

  /** One span, as a ScopeSpans.spans field. */
  span(s: SpanRecord): void {
    const ctx = s.spanContext();
    const parent = s.parentSpanContext;
    // a span is over 127 bytes: two bytes for its length, so it is seldom moved
    const at = this.open(2, 2);
    this.idField(1, ctx.traceId);
    this.idField(2, ctx.spanId);
    const traceState = ctx.traceState?.serialize();
    if (traceState) this.stringField(3, traceState);
    if (parent?.spanId) this.idField(4, parent.spanId);
    this.stringField(5, s.name);
    this.uint32Field(6, s.kind + 1);
    this.timeField(7, s.startTime);
    this.timeField(8, s.endTime);
    this.keyValues(9, s.attributes);
    this.countField(10, s.droppedAttributesCount);
    for (let i = 0; i < s.events.length; i++) {
      const e = s.events[i]!;
      const event = this.open(11);
      this.timeField(1, e.time);
      this.stringField(2, e.name);
      if (e.attributes) this.keyValues(3, e.attributes);
      this.countField(4, e.droppedAttributesCount);
      this.close(event);
    }
    this.countField(12, s.droppedEventsCount);
    for (let i = 0; i < s.links.length; i++) {
      const l = s.links[i]!;
      const link = this.open(13);
      this.idField(1, l.context.traceId);
      this.idField(2, l.context.spanId);
      const ts = l.context.traceState?.serialize();
      if (ts) this.stringField(3, ts);
      if (l.attributes) this.keyValues(4, l.attributes);
      this.countField(5, l.droppedAttributesCount);
      this.byte(key(6, I32));
      this.word(spanFlags(l.context, l.context.isRemote));
      this.close(link);
    }
    this.countField(14, s.droppedLinksCount);
    const status = this.open(15);
    if (s.status.message) this.stringField(2, s.status.message);
    this.uint32Field(3, s.status.code);
    this.close(status);
    this.varint(key(16, I32)); // field 16: a key of two bytes
    this.word(spanFlags(ctx, parent?.isRemote));
    this.close(at, 2);
  }
}

/**
 * The message fields that enclose a request's spans, made once per resource and scope:
 * ExportTraceServiceRequest.resource_spans > ResourceSpans { resource, scope_spans, schema_url }
 * > ScopeSpans { scope, spans, schema_url }.
 */
interface Enclosing {
  /** ResourceSpans.resource, key included. */
  resource: Buffer;
  /** ScopeSpans.scope, key included. */
  scope: Buffer;
  /** ScopeSpans.schema_url, or nothing. */
  scopeSchema: Buffer;
  /** ResourceSpans.schema_url, or nothing. */
  resourceSchema: Buffer;
}

function enclosing(resource: Resource, scope: Scope): Enclosing {
  const field = (write: (w: ProtoBytes) => void) => {
    const w = new ProtoBytes(256);
    write(w);
    return Buffer.from(w.written());
  };
  return {
    resource: field((w) => {
      const at = w.open(1);
      w.keyValues(1, resource.attributes);
      w.close(at);
    }),
    scope: field((w) => {
      const at = w.open(1);
      w.stringField(1, scope.name);
      if (scope.version) w.stringField(2, scope.version);
      w.close(at);
    }),
    scopeSchema: field((w) => {
      if (scope.schemaUrl) w.stringField(3, scope.schemaUrl);
    }),
    resourceSchema: field((w) => {
      if (resource.schemaUrl) w.stringField(3, resource.schemaUrl);
    }),
  };
}

/**
 * A protobuf request. Its spans are written first, after a gap; the messages that enclose them
 * need the spans' total length, so they are written into the gap at the end, right before the
 * spans, and the body starts where they do.
 */
class ProtoSpanBatch extends SpanBatch {
  readonly #proto: ProtoBytes;
  /** Room before the spans for what encloses them: the resource and scope, three keys and three lengths. */
  readonly #gap: number;

  constructor(resource: Resource, scope: Scope, private readonly ends: Enclosing, capacity: number) {
    super(resource, scope);
    this.#gap = ends.resource.length + ends.scope.length + 3 * 6;
    this.#proto = new ProtoBytes(this.#gap + Math.max(capacity, ends.scopeSchema.length + ends.resourceSchema.length));
    this.#proto.length = this.#gap;
  }

  get byteLength(): number {
    return this.#proto.length - this.#gap;
  }

  protected write(span: SpanRecord): void {
    this.#proto.span(span);
  }

  protected finish(): Buffer {
    const p = this.#proto;
    const { resource, scope, scopeSchema, resourceSchema } = this.ends;
    const spans = p.length - this.#gap;
    p.raw(scopeSchema);
    p.raw(resourceSchema);
    const scopeSpans = scope.length + spans + scopeSchema.length;
    const resourceSpans = resource.length + 1 + varintSize(scopeSpans) + scopeSpans + resourceSchema.length;
    const end = p.length;
    // the head, written into the gap so that it ends where the spans begin
    const head = new ProtoBytes(this.#gap);
    head.byte(key(1, LEN));
    head.varint(resourceSpans);
    head.raw(resource);
    head.byte(key(2, LEN));
    head.varint(scopeSpans);
    head.raw(scope);
    const start = this.#gap - head.length;
    head.written().copy(p.bytes, start);
    return p.bytes.subarray(start, end);
  }
}

export class OtlpProtoEncoder implements OtlpEncoder {
  readonly contentType = 'application/x-protobuf';
  readonly #ends = new PerScope(enclosing);
  /** Never sent, never read: kept for its shape, which is the requests' (OtlpEncoder, otlp-export.ts). */
  // eslint-disable-next-line no-unused-private-class-members -- held, not read
  #keepShape: SpanBatch | undefined;

  batch(first: SpanRecord, capacity = 8_192): SpanBatch {
    const ends = this.#ends.of(first);
    this.#keepShape ??= new ProtoSpanBatch(first.resource, first.instrumentationScope, ends, 0);
    return new ProtoSpanBatch(first.resource, first.instrumentationScope, ends, capacity);
  }
}
