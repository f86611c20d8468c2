/**
 * The OTLP/HTTP JSON encoding of finished spans, written for tremolo in place of the SDK's
 * JsonTraceSerializer (otel.ts hands it to the SDK's own OTLP/HTTP exporter, which keeps its
 * transport, retries, compression and OTEL_EXPORTER_OTLP_* configuration). Why (issue 16,
 * docs/benchmarks.md "tracing"): exporting was 60 % of what a sampled span cost (span-cost loop:
 * a root and a child, 13 µs per request exported to a sink in the same process, 5 µs with
 * nothing exported), and the SDK's serializer builds an object per span, attribute and status,
 * converts every timestamp through BigInt, stringifies the whole tree and encodes it again as
 * bytes (~4.6 µs a span against ~2.7 here). Here each span is written once, straight into the
 * request's bytes when it ends (batch-processor.ts), and the resource and scope once per process.
 *
 * Nothing here imports OpenTelemetry: spans are read through `SpanRecord`, which the SDK's
 * ReadableSpan satisfies. The payload is the same OTLP JSON as the SDK's (hex ids, nanosecond
 * strings, kind + 1, flags with the remote bits); test/unit/otlp-export.test.ts checks it.
 */
type HrTime = readonly [number, number];
type AttributeValue = string | number | boolean | readonly unknown[] | Uint8Array | null | undefined;
type SpanAttributes = Readonly<Record<string, AttributeValue | unknown>>;

interface SpanContextLike {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean;
  readonly traceState?: { serialize(): string };
}

/** What the encoder reads of a finished span: a structural subset of the SDK's ReadableSpan. */
export interface SpanRecord {
  readonly name: string;
  readonly kind: number;
  spanContext(): SpanContextLike;
  readonly parentSpanContext?: SpanContextLike | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status: { readonly code: number; readonly message?: string | undefined };
  readonly attributes: SpanAttributes;
  readonly links: readonly { readonly context: SpanContextLike; readonly attributes?: SpanAttributes | undefined; readonly droppedAttributesCount?: number | undefined }[];
  readonly events: readonly { readonly name: string; readonly time: HrTime; readonly attributes?: SpanAttributes | undefined; readonly droppedAttributesCount?: number | undefined }[];
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;
  readonly resource: { readonly attributes: SpanAttributes; readonly schemaUrl?: string | undefined };
  readonly instrumentationScope: { readonly name: string; readonly version?: string | undefined; readonly schemaUrl?: string | undefined };
}

/** Nanoseconds since the epoch as a decimal string, without BigInt for the usual [s, ns] pair. */
export function nanos(t: HrTime): string {
  const [s, ns] = t;
  if (usualTime(t)) return `${s}${String(ns).padStart(9, '0')}`;
  return (BigInt(Math.trunc(s)) * 1_000_000_000n + BigInt(Math.trunc(ns))).toString();
}

const usualTime = ([s, ns]: HrTime): boolean => Number.isSafeInteger(s) && s > 0 && Number.isInteger(ns) && ns >= 0 && ns < 1e9;

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

/**
 * JSON written straight into a growing Buffer, a byte at a time for ASCII and by `Buffer.write`
 * for anything else. A span written as a JS string first was ~2.6 KB of garbage (a string for
 * each piece and each join), more than the SDK's span itself (~1.4 KB): at 100 % sampling
 * every request paid for it in scavenges.
 */
class JsonBytes {
  bytes: Buffer;
  length = 0;

  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafe(capacity);
  }

  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.length + n));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }

  raw(piece: Uint8Array): void {
    this.reserve(piece.length);
    this.bytes.set(piece, this.length);
    this.length += piece.length;
  }

  /** Text known to be ASCII (hex ids, numbers), as it is. */
  ascii(text: string): void {
    this.reserve(text.length);
    for (let i = 0; i < text.length; i++) this.bytes[this.length++] = text.charCodeAt(i);
  }

  /** Any text as a JSON string: printable ASCII a byte at a time, the rest escaped by JSON.stringify. */
  string(text: string): void {
    this.reserve(text.length + 2);
    const start = this.length;
    this.bytes[this.length++] = QUOTE;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
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
      this.digits(flags(l.context, l.context.isRemote));
      this.byte(0x7d);
    }
    this.raw(K.droppedLinks);
    this.digits(s.droppedLinksCount);
    this.raw(K.flags);
    this.digits(flags(ctx, parent?.isRemote));
    this.byte(0x7d);
  }
}

const flags = (ctx: SpanContextLike, isRemote: boolean | undefined): number => (ctx.traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

/**
 * One OTLP/HTTP JSON request (an ExportTraceServiceRequest) being written: the spans of one
 * resource and scope, each added as it ends. The request is bytes in a Buffer, outside the JS
 * heap, so a span waiting for its export is a few hundred bytes there and no object at all: the
 * SDK's span, its attributes, times and context die young with the request that made them.
 * Waiting as objects for a batch of 512 to fill (the SDK's BatchSpanProcessor) made them
 * survive scavenges and be promoted, which cost the feed at 100 % sampling more than making,
 * encoding and sending the spans together (docs/benchmarks.md, "tracing").
 */
export class SpanBatch {
  readonly #json: JsonBytes;
  #body: Buffer | undefined;
  /** Spans added. */
  count = 0;

  constructor(
    readonly resource: SpanRecord['resource'],
    readonly scope: SpanRecord['instrumentationScope'],
    head: Uint8Array,
    private readonly tail: Uint8Array,
    capacity: number,
  ) {
    this.#json = new JsonBytes(Math.max(capacity, head.length + tail.length));
    this.#json.raw(head);
  }

  /** Whether `span` belongs in this request (its resource and scope are this request's). */
  holds(span: SpanRecord): boolean {
    return span.resource === this.resource && span.instrumentationScope === this.scope;
  }

  add(span: SpanRecord): void {
    if (this.#body) throw new Error('a span batch takes no span once its body is written');
    if (this.count > 0) this.#json.byte(COMMA);
    this.#json.span(span);
    this.count++;
  }

  /** Bytes written so far. */
  get byteLength(): number {
    return this.#json.length;
  }

  /** The whole request: its spans and the JSON that closes them. Nothing is added after. */
  body(): Buffer {
    if (!this.#body) {
      this.#json.raw(this.tail);
      this.#body = this.#json.bytes.subarray(0, this.#json.length);
    }
    return this.#body;
  }
}

/**
 * Opens OTLP JSON requests (SpanBatch) for spans, writing each resource's and scope's part once:
 * they are the same objects for every span of a tracer.
 */
export class OtlpJsonEncoder {
  readonly #heads = new WeakMap<object, WeakMap<object, { head: Uint8Array; tail: Uint8Array }>>();

  /** A request for spans of `first`'s resource and scope (`first` is not added), with room for `capacity` bytes to begin with. */
  batch(first: SpanRecord, capacity = 16_384): SpanBatch {
    const { resource, instrumentationScope: scope } = first;
    let byScope = this.#heads.get(resource);
    if (!byScope) this.#heads.set(resource, (byScope = new WeakMap()));
    let ends = byScope.get(scope);
    if (!ends) byScope.set(scope, (ends = requestEnds(resource, scope)));
    return new SpanBatch(resource, scope, ends.head, ends.tail, capacity);
  }
}

/** The JSON of a request before its first span and after its last. */
function requestEnds(resource: SpanRecord['resource'], scope: SpanRecord['instrumentationScope']): { head: Uint8Array; tail: Uint8Array } {
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
  return { head: head.bytes.subarray(0, head.length), tail: tail.bytes.subarray(0, tail.length) };
}
