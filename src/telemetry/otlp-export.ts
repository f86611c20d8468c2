/**
 * OTLP/HTTP export requests written for tremolo in place of the SDK's serializers (otel.ts
 * hands them to the SDK's own OTLP/HTTP exporter, which keeps its transport, retries,
 * compression and OTEL_EXPORTER_OTLP_* configuration), in either of OTLP/HTTP's encodings:
 * protobuf (otlp-proto.ts, the default, as the OTLP specification has it) or JSON
 * (otlp-json.ts). Why (issue 16, docs/benchmarks.md "tracing"): exporting was 60 % of what a
 * sampled span cost, and the SDK's serializers take the whole batch of span objects at once,
 * so every span has to wait for its batch as objects. Here each span is written once, straight
 * into its request's bytes when it ends (batch-processor.ts), and the resource and scope once
 * per process.
 *
 * Nothing here imports OpenTelemetry: spans are read through `SpanRecord`, which tremolo's
 * spans (otel.ts, RecordingSpan) and the SDK's ReadableSpan both satisfy. The payloads are the SDK's, field for field;
 * test/unit/otlp-export.test.ts checks both against its serializers.
 */
type HrTime = readonly [number, number];
type AttributeValue = string | number | boolean | readonly unknown[] | Uint8Array | null | undefined;
export type SpanAttributes = Readonly<Record<string, AttributeValue | unknown>>;

export interface SpanContextLike {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean;
  readonly traceState?: { serialize(): string };
}

/** What the encoders read of a finished span: a structural subset of the SDK's ReadableSpan. */
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
  readonly resource: Resource;
  readonly instrumentationScope: Scope;
}
export type Resource = { readonly attributes: SpanAttributes; readonly schemaUrl?: string | undefined };
export type Scope = { readonly name: string; readonly version?: string | undefined; readonly schemaUrl?: string | undefined };

/** Nanoseconds since the epoch as a decimal string, without BigInt for the usual [s, ns] pair. */
export function nanos(t: HrTime): string {
  const [s, ns] = t;
  if (usualTime(t)) return `${s}${String(ns).padStart(9, '0')}`;
  return (BigInt(Math.trunc(s)) * 1_000_000_000n + BigInt(Math.trunc(ns))).toString();
}

/** A time whose parts are whole, positive and in range, which the encoders write without BigInt. */
export const usualTime = ([s, ns]: HrTime): boolean => Number.isSafeInteger(s) && s > 0 && Number.isInteger(ns) && ns >= 0 && ns < 1e9;

/** Span flags as OTLP has them: the W3C trace flags, and whether the parent was remote (and that this is known). */
export const spanFlags = (ctx: SpanContextLike, isRemote: boolean | undefined): number => (ctx.traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

const CHAR_CODE_AT = String.prototype.charCodeAt;

/**
 * `text.charCodeAt(i)` for the encoders' loops over a span's strings, called on the builtin
 * itself. The strings come in many of V8's representations (literals, concatenations, slices,
 * parsed JSON, hex made from bytes), and a `text.charCodeAt` site that has seen more than four
 * goes megamorphic: each character then paid a lookup in V8's stub cache and a generic call. In
 * the feed server at 100 % sampling that was most of the encoding's cost; a loop over strings of
 * six representations took 232 ns per string that way and 43 ns this way (docs/benchmarks.md,
 * "tracing", session 35).
 */
export const charCode = (text: string, i: number): number => CHAR_CODE_AT.call(text, i);

/**
 * A request's bytes, written straight into a growing Buffer. A span written as a JS string
 * first was ~2.6 KB of garbage (a string for each piece and each join), more than the SDK's
 * span itself (~1.4 KB): at 100 % sampling every request paid for it in scavenges.
 */
export class ByteWriter {
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

  /** What has been written. */
  written(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}

/**
 * One OTLP/HTTP request (an ExportTraceServiceRequest) being written: the spans of one resource
 * and scope, each added as it ends. The request is bytes in a Buffer, outside the JS heap, so a
 * span waiting for its export is a few hundred bytes there and no object at all: the span,
 * its attributes, times and context die young with the request that made them. Waiting as
 * objects for a batch of 512 to fill (the SDK's BatchSpanProcessor) made them survive scavenges
 * and be promoted, which cost the feed at 100 % sampling more than making, encoding and sending
 * the spans together (docs/benchmarks.md, "tracing").
 */
export abstract class SpanBatch {
  #body: Buffer | undefined;
  /** Spans added. */
  count = 0;

  constructor(
    readonly resource: Resource,
    readonly scope: Scope,
  ) {}

  /** Whether `span` belongs in this request (its resource and scope are this request's). */
  holds(span: SpanRecord): boolean {
    return span.resource === this.resource && span.instrumentationScope === this.scope;
  }

  add(span: SpanRecord): void {
    if (this.#body) throw new Error('a span batch takes no span once its body is written');
    this.write(span);
    this.count++;
  }

  /** The whole request, its spans and what encloses them. Written once: nothing is added after, and a retry sends the same bytes. */
  body(): Buffer {
    return (this.#body ??= this.finish());
  }

  /** Bytes written so far. */
  abstract get byteLength(): number;
  protected abstract write(span: SpanRecord): void;
  protected abstract finish(): Buffer;
}

/**
 * Opens requests (SpanBatch) in one of OTLP/HTTP's encodings.
 *
 * An encoder keeps one small request of its own for as long as it lives (`keepShape`). Why: V8
 * forgets the shape of objects of a class once none is left (the shape is reachable only from
 * live objects), and with it throws away the optimized code that was made for that shape. A
 * request is short-lived, and between one export and the next span there may be none: each GC
 * there cost the encoder its optimized code, so it ran unoptimized most of the time at a low
 * sampling ratio (every function of the encoder was recompiled after each export in a trace of
 * V8's deoptimizations, `node --trace-deopt`).
 */
export interface OtlpEncoder {
  /** The Content-Type of its requests. */
  readonly contentType: string;
  /** A request for spans of `first`'s resource and scope (`first` is not added), with room for `capacity` bytes to begin with. */
  batch(first: SpanRecord, capacity?: number): SpanBatch;
}

/**
 * What an encoder writes once per resource and scope: they are the same objects for every span
 * of a tracer, so a request's enclosing bytes are made once and reused.
 */
export class PerScope<T> {
  readonly #made = new WeakMap<Resource, WeakMap<Scope, T>>();

  constructor(private readonly make: (resource: Resource, scope: Scope) => T) {}

  of(span: SpanRecord): T {
    const { resource, instrumentationScope: scope } = span;
    let byScope = this.#made.get(resource);
    if (!byScope) this.#made.set(resource, (byScope = new WeakMap()));
    let made = byScope.get(scope);
    if (made === undefined) byScope.set(scope, (made = this.make(resource, scope)));
    return made;
  }
}
