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

const str = (s: string): string => JSON.stringify(s);

/** Nanoseconds since the epoch as a decimal string, without BigInt for the usual [s, ns] pair. */
export function nanos(t: HrTime): string {
  const [s, ns] = t;
  if (Number.isSafeInteger(s) && s > 0 && Number.isInteger(ns) && ns >= 0 && ns < 1e9) return `${s}${String(ns).padStart(9, '0')}`;
  return (BigInt(Math.trunc(s)) * 1_000_000_000n + BigInt(Math.trunc(ns))).toString();
}

/** An OTLP AnyValue, as the SDK's JSON serializer writes it (integers as numbers). */
function anyValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${str(v)}}`;
    case 'number':
      return Number.isInteger(v) ? `{"intValue":${v}}` : `{"doubleValue":${JSON.stringify(v)}}`;
    case 'boolean':
      return `{"boolValue":${v}}`;
  }
  if (v instanceof Uint8Array) return `{"bytesValue":${str(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'))}}`;
  if (Array.isArray(v)) return `{"arrayValue":{"values":[${v.map(anyValue).join(',')}]}}`;
  if (typeof v === 'object' && v !== null) return `{"kvlistValue":{"values":[${keyValues(v as SpanAttributes)}]}}`;
  return '{}';
}

function keyValues(attributes: SpanAttributes): string {
  let out = '';
  for (const key in attributes) {
    if (!Object.hasOwn(attributes, key)) continue;
    if (out) out += ',';
    out += `{"key":${str(key)},"value":${anyValue(attributes[key])}}`;
  }
  return out;
}

const flags = (ctx: SpanContextLike, isRemote: boolean | undefined): number => (ctx.traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

/** One span's OTLP JSON object. */
export function spanJson(s: SpanRecord): string {
  const ctx = s.spanContext();
  const parent = s.parentSpanContext;
  const traceState = ctx.traceState?.serialize();
  let out = `{"traceId":"${ctx.traceId}","spanId":"${ctx.spanId}"`;
  if (parent?.spanId) out += `,"parentSpanId":"${parent.spanId}"`;
  if (traceState !== undefined) out += `,"traceState":${str(traceState)}`;
  out += `,"name":${str(s.name)},"kind":${s.kind + 1},"startTimeUnixNano":"${nanos(s.startTime)}","endTimeUnixNano":"${nanos(s.endTime)}"`;
  out += `,"attributes":[${keyValues(s.attributes)}],"droppedAttributesCount":${s.droppedAttributesCount}`;
  out += `,"events":[`;
  for (let i = 0; i < s.events.length; i++) {
    const e = s.events[i]!;
    out += `${i ? ',' : ''}{"attributes":[${e.attributes ? keyValues(e.attributes) : ''}],"name":${str(e.name)},"timeUnixNano":"${nanos(e.time)}","droppedAttributesCount":${e.droppedAttributesCount ?? 0}}`;
  }
  out += `],"droppedEventsCount":${s.droppedEventsCount},"status":{"code":${s.status.code}`;
  if (s.status.message !== undefined) out += `,"message":${str(s.status.message)}`;
  out += `},"links":[`;
  for (let i = 0; i < s.links.length; i++) {
    const l = s.links[i]!;
    const ts = l.context.traceState?.serialize();
    out += `${i ? ',' : ''}{"attributes":[${l.attributes ? keyValues(l.attributes) : ''}],"spanId":"${l.context.spanId}","traceId":"${l.context.traceId}"`;
    if (ts !== undefined) out += `,"traceState":${str(ts)}`;
    out += `,"droppedAttributesCount":${l.droppedAttributesCount ?? 0},"flags":${flags(l.context, l.context.isRemote)}}`;
  }
  return `${out}],"droppedLinksCount":${s.droppedLinksCount},"flags":${flags(ctx, parent?.isRemote)}}`;
}

/** What a span's JSON may grow to in UTF-8: three bytes for each UTF-16 unit, and a comma. */
const maxBytes = (json: string): number => json.length * 3 + 1;

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
  #bytes: Buffer;
  #length = 0;
  #body: Buffer | undefined;
  /** Spans added. */
  count = 0;

  constructor(
    readonly resource: SpanRecord['resource'],
    readonly scope: SpanRecord['instrumentationScope'],
    head: string,
    private readonly tail: string,
    capacity: number,
  ) {
    this.#bytes = Buffer.allocUnsafe(Math.max(capacity, maxBytes(head)));
    this.#length = this.#bytes.write(head, 0);
  }

  /** Whether `span` belongs in this request (its resource and scope are this request's). */
  holds(span: SpanRecord): boolean {
    return span.resource === this.resource && span.instrumentationScope === this.scope;
  }

  add(span: SpanRecord): void {
    if (this.#body) throw new Error('a span batch takes no span once its body is written');
    const json = spanJson(span);
    this.#reserve(maxBytes(json));
    if (this.count > 0) this.#bytes[this.#length++] = 0x2c; // ','
    this.#length += this.#bytes.write(json, this.#length);
    this.count++;
  }

  /** Bytes written so far. */
  get byteLength(): number {
    return this.#length;
  }

  /** The whole request: its spans and the JSON that closes them. Nothing is added after. */
  body(): Buffer {
    if (!this.#body) {
      this.#reserve(maxBytes(this.tail));
      this.#length += this.#bytes.write(this.tail, this.#length);
      this.#body = this.#bytes.subarray(0, this.#length);
    }
    return this.#body;
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.#bytes.length, this.#length + bytes));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }
}

/**
 * Opens OTLP JSON requests (SpanBatch) for spans, writing each resource's and scope's JSON once:
 * they are the same objects for every span of a tracer.
 */
export class OtlpJsonEncoder {
  readonly #resources = new WeakMap<object, string>();
  readonly #scopes = new WeakMap<object, string>();

  /** A request for spans of `first`'s resource and scope (`first` is not added), with room for `capacity` bytes to begin with. */
  batch(first: SpanRecord, capacity = 16_384): SpanBatch {
    const { resource, instrumentationScope: scope } = first;
    const head = `{"resourceSpans":[{"resource":${this.#resource(resource)},"scopeSpans":[{"scope":${this.#scope(scope)},"spans":[`;
    const scopeTail = scope.schemaUrl !== undefined ? `,"schemaUrl":${str(scope.schemaUrl)}` : '';
    const resourceTail = resource.schemaUrl ? `,"schemaUrl":${str(resource.schemaUrl)}` : '';
    return new SpanBatch(resource, scope, head, `]${scopeTail}}]${resourceTail}}]}`, capacity);
  }

  #resource(r: SpanRecord['resource']): string {
    let json = this.#resources.get(r);
    if (json === undefined) {
      json = `{"attributes":[${keyValues(r.attributes)}],"droppedAttributesCount":0${r.schemaUrl ? `,"schemaUrl":${str(r.schemaUrl)}` : ''}}`;
      this.#resources.set(r, json);
    }
    return json;
  }

  #scope(s: SpanRecord['instrumentationScope']): string {
    let json = this.#scopes.get(s);
    if (json === undefined) {
      json = `{"name":${str(s.name)}${s.version !== undefined ? `,"version":${str(s.version)}` : ''}}`;
      this.#scopes.set(s, json);
    }
    return json;
  }
}
