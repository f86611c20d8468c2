/**
 * The Tracing port on the OpenTelemetry SDK for Node. Only `startTracing` imports this file, and
 * only when TRACING_ENABLED is set, so with tracing off none of the SDK is even loaded.
 *
 * Nothing here is global: the tracer provider is not registered with the API's globals and
 * the active context is this instance's own, so several engines in one process (tests,
 * benchmarks) each trace on their own.
 *
 * What keeps tracing cheap at a low ratio (issue 16's target: 1 % costs at most 5 %):
 * - No AsyncLocalStorage. On Node 20 entering one turns on promise hooks for the whole process,
 *   so every promise of every request would pay, sampled or not. The active context is a
 *   synchronous scope instead (`run`); tremolo carries it across its own awaits explicitly
 *   (the actor message, the turn, the HTTP handler, the job attempt), see tracing.ts.
 * - An unsampled root is decided before any OpenTelemetry object exists: its span and every
 *   descendant's is one shared no-op, and no ids are made unless its context leaves the process
 *   (`inject`, so the other side follows the decision).
 * - A sampled span waits for its export as bytes, not as objects (batch-processor.ts): what
 *   100 % sampling cost most was spans surviving scavenges in the SDK's batch queue.
 *
 * The standard variables still configure it, read by the SDK: OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES (resource), OTEL_EXPORTER_OTLP_ENDPOINT /
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS and _PROTOCOL (exporter), OTEL_TRACES_SAMPLER / _ARG, which
 * when set replace tremolo's rule sampler (sampling.ts); OTEL_BSP_* (batching) is read here,
 * as the SDK's BatchSpanProcessor reads it.
 */
import {
  diag,
  SpanKind as OtelSpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes as OtelAttributes,
  type Context,
  type Link,
  type SpanOptions as SpanOptionsOtel,
  type Span,
} from '@opentelemetry/api';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, ProtobufTraceSerializer, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
// the SDK for Node's tracing packages, which @opentelemetry/sdk-node bundles, imported by
// themselves: sdk-node's index loads its metrics, logs and every exporter too (19 MB of heap
// against 4 MB for these), which a traced process would carry through every major GC
import * as core from '@opentelemetry/core';
import * as resources from '@opentelemetry/resources';
import * as sdk from '@opentelemetry/sdk-trace-base';
import * as node from '@opentelemetry/sdk-trace-node';
import { systemClock } from '../domain/clock.ts';
import { EncodingBatchProcessor, type BatchOptions } from './batch-processor.ts';
import type { OtlpEncoder, SpanBatch } from './otlp-export.ts';
import { OtlpJsonEncoder } from './otlp-json.ts';
import { OtlpProtoEncoder } from './otlp-proto.ts';
import { ratioFor, sampledAt, sampledTail, type SampleRule } from './sampling.ts';
import { errorCode, type Attributes, type SpanHandle, type SpanKind, type SpanOptions, type TraceContext, type Tracing } from './tracing.ts';

export interface OtelTracingOptions {
  serviceName: string;
  serviceVersion: string;
  /** TRACE_SAMPLE_RATIO: roots that no rule matches. */
  defaultRatio: number;
  /** TRACE_SAMPLE_RULES. */
  rules: readonly SampleRule[];
  /** Where spans go; default: the OTEL_EXPORTER_OTLP_* variables (http://localhost:4318/v1/traces). */
  exporterUrl?: string;
  /** The process environment, for OTEL_TRACES_SAMPLER. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

const KINDS: Record<SpanKind, OtelSpanKind> = {
  internal: OtelSpanKind.INTERNAL,
  server: OtelSpanKind.SERVER,
  client: OtelSpanKind.CLIENT,
  producer: OtelSpanKind.PRODUCER,
  consumer: OtelSpanKind.CONSUMER,
};

const SAMPLED: sdk.SamplingResult = Object.freeze({ decision: sdk.SamplingDecision.RECORD_AND_SAMPLED });
const NOT_SAMPLED: sdk.SamplingResult = Object.freeze({ decision: sdk.SamplingDecision.NOT_RECORD });

/** Roots sampled by the first TRACE_SAMPLE_RULES rule matching their name or route. */
class RuleSampler implements sdk.Sampler {
  /** Set by `start` just before it starts a root it has already drawn as sampled. */
  #drawn = false;

  constructor(
    private readonly rules: readonly SampleRule[],
    private readonly defaultRatio: number,
  ) {}

  /** The next root's decision is made (sampled): the SDK's call below need not make it again. */
  drawn(): void {
    this.#drawn = true;
  }

  shouldSample(_ctx: Context, traceId: string, spanName: string, _kind: OtelSpanKind, attributes: OtelAttributes): sdk.SamplingResult {
    if (this.#drawn) {
      this.#drawn = false;
      return SAMPLED;
    }
    const route = attributes['http.route'];
    const ratio = ratioFor(this.rules, this.defaultRatio, spanName, typeof route === 'string' ? route : undefined);
    return sampledAt(traceId, ratio) ? SAMPLED : NOT_SAMPLED;
  }

  toString(): string {
    return `TremoloRuleSampler{default=${this.defaultRatio},rules=${this.rules.map((r) => `${r.pattern}=${r.ratio}`).join(',')}}`;
  }
}

/**
 * A position in a trace that is not sampled and has no span: a local root that lost the draw,
 * or a remote parent whose `traceparent` says "not sampled" (kept, to pass on as it came).
 * Everything under it is unsampled too (parent-based), and costs one shared no-op span.
 */
class Unsampled implements TraceContext {
  declare readonly __traceContext?: never;
  readonly span: SpanHandle;
  constructor(readonly traceparent?: string) {
    this.span = Object.freeze({ context: this, recording: false, set() {}, ids: () => undefined, fail() {}, end() {} });
  }
}
const UNSAMPLED_ROOT = new Unsampled();

/**
 * Trace ids from OpenTelemetry's generator, except that a root decided here before the span
 * existed gets the random tail its decision was drawn with: `sampledAt(traceId)` then agrees
 * with the decision, in this process and in any that reads the id.
 */
class TailPinnedIds implements sdk.IdGenerator {
  readonly #random = new sdk.RandomIdGenerator();
  #tail: number | undefined;
  pin(tail: number): void {
    this.#tail = tail;
  }
  generateTraceId = (): string => {
    const id = this.#random.generateTraceId();
    const tail = this.#tail;
    if (tail === undefined) return id;
    this.#tail = undefined;
    return id.slice(0, 24) + tail.toString(16).padStart(8, '0');
  };
  generateSpanId = (): string => this.#random.generateSpanId();
}

/**
 * A context as one link of a chain (a value, over its parent), in place of the API's
 * BaseContext, which copies its whole Map (and makes three closures) for each `setValue`: a
 * third of a sampled span's cost in the span-cost loop. A context here holds a span or a remote
 * parent, so a chain is as deep as the spans nested in this process, and the span, the value
 * read most, is the first link.
 */
class ChainedContext implements Context {
  constructor(
    private readonly parent: ChainedContext | undefined,
    private readonly key: symbol | undefined,
    private readonly value: unknown,
  ) {}

  getValue(key: symbol): unknown {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- walking the chain
    for (let c: ChainedContext | undefined = this; c; c = c.parent) if (c.key === key) return c.value;
    return undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return new ChainedContext(this, key, value);
  }

  deleteValue(key: symbol): Context {
    // a link that hides the key's value below it: getValue answers undefined, as after a delete
    return new ChainedContext(this, key, undefined);
  }
}
/** The root of every context this tracer makes (the API's ROOT_CONTEXT holds nothing either). */
const EMPTY_CONTEXT: Context = new ChainedContext(undefined, undefined, undefined);

const toContext = (ctx: TraceContext): Context => ctx as unknown as Context;
const fromContext = (ctx: Context): TraceContext => ctx as unknown as TraceContext;

/**
 * Attributes as the SDK takes them. Undefined values may stay: the SDK copies the object and
 * skips them (Span.setAttribute ignores null and undefined), so no cleaned copy is made here.
 */
const otelAttributes = (attributes: Attributes): OtelAttributes => attributes as OtelAttributes;

class OtelSpan implements SpanHandle {
  readonly recording: boolean;
  #context: TraceContext | undefined;

  constructor(
    private readonly span: Span,
    private readonly parent: Context,
  ) {
    this.recording = span.isRecording();
  }

  /** Made when first asked for: a leaf span (a store call) never is. */
  get context(): TraceContext {
    return (this.#context ??= fromContext(trace.setSpan(this.parent, this.span)));
  }

  set(attributes: Attributes): void {
    if (this.recording) this.span.setAttributes(otelAttributes(attributes));
  }

  ids() {
    if (!this.recording) return undefined;
    const sc = this.span.spanContext();
    return { trace_id: sc.traceId, span_id: sc.spanId };
  }

  fail(err: unknown): void {
    if (!this.recording) return;
    const code = errorCode(err);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    // the code and type only: an error's message may quote user input
    this.span.addEvent('exception', { 'exception.type': err instanceof Error ? err.name : typeof err, 'exception.message': code });
  }

  end(endTime?: number): void {
    this.span.end(endTime);
  }
}

/** Requests written in one of OTLP/HTTP's encodings, and the SDK's reader of the collector's answers in it. */
interface Encoding {
  encoder: OtlpEncoder;
  responses: Pick<ISerializer<unknown, IExportTraceServiceResponse>, 'deserializeResponse'>;
}

/**
 * The SDK's OTLP/HTTP trace exporter (what OTLPTraceExporter builds: its transport, retries,
 * compression, limits and OTEL_EXPORTER_OTLP_* configuration) over requests already encoded
 * (otlp-export.ts): its serializer only hands over their bytes.
 */
class OtlpHttpTraceExporter extends OTLPExporterBase<SpanBatch> {
  constructor(url: string | undefined, { encoder, responses }: Encoding) {
    const serializer: ISerializer<SpanBatch, IExportTraceServiceResponse> = {
      serializeRequest: (batch) => batch.body(),
      deserializeResponse: (data) => responses.deserializeResponse(data),
    };
    const options = convertLegacyHttpOptions(url ? { url } : {}, 'TRACES', 'v1/traces', { 'Content-Type': encoder.contentType });
    super(createOtlpHttpExportDelegate(options, serializer, 'otlp_http_span_exporter', { name: 'span', countItems: (batch) => batch.count }, undefined));
  }
}

/**
 * The encoding OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or OTEL_EXPORTER_OTLP_PROTOCOL) asks for:
 * http/protobuf unless set, as the OTLP specification says. gRPC is not spoken here: a
 * collector takes OTLP/HTTP on its port 4318.
 */
function encodingFor(env: Readonly<Record<string, string | undefined>>): Encoding {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol === 'http/protobuf') return { encoder: new OtlpProtoEncoder(), responses: ProtobufTraceSerializer };
  if (protocol === 'http/json') return { encoder: new OtlpJsonEncoder(), responses: JsonTraceSerializer };
  throw new Error(`OTLP protocol ${JSON.stringify(protocol)} is not supported: tremolo exports traces over OTLP/HTTP, set http/protobuf (the default) or http/json`);
}

/** OTEL_BSP_* as the SDK's BatchSpanProcessor reads them; what is unset keeps the SDK's default. */
function batchOptionsFromEnv(): Partial<BatchOptions> {
  const options: Partial<BatchOptions> = {};
  const read = (key: keyof BatchOptions, variable: string) => {
    const value = core.getNumberFromEnv(variable);
    if (value !== undefined && value > 0) options[key] = value;
  };
  read('maxExportBatchSize', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE');
  read('maxQueueSize', 'OTEL_BSP_MAX_QUEUE_SIZE');
  read('scheduledDelayMillis', 'OTEL_BSP_SCHEDULE_DELAY');
  read('exportTimeoutMillis', 'OTEL_BSP_EXPORT_TIMEOUT');
  return options;
}

export function createOtelTracing(opts: OtelTracingOptions): Tracing {
  const env = opts.env ?? process.env;
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.serviceVersion }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const encoding = encodingFor(env);
  const processor = new EncodingBatchProcessor(
    encoding.encoder,
    new OtlpHttpTraceExporter(opts.exporterUrl, encoding),
    {
      exportFailed: (err) => core.globalErrorHandler(err),
      dropped: (count) => diag.warn(`Dropped ${count} spans because maxQueueSize reached`),
    },
    systemClock,
    batchOptionsFromEnv(),
  );
  // an OTEL_TRACES_SAMPLER the operator set wins: the SDK builds it from the environment, and
  // every root then goes through it (no early decision: its rule is not ours to predict)
  const ruleSampling = !env.OTEL_TRACES_SAMPLER;
  const idGenerator = new TailPinnedIds();
  const ruleSampler = ruleSampling ? new RuleSampler(opts.rules, opts.defaultRatio) : undefined;
  const provider = new node.NodeTracerProvider({
    resource,
    idGenerator,
    ...(ruleSampler ? { sampler: new sdk.ParentBasedSampler({ root: ruleSampler }) } : {}),
    // bounded: OTEL_BSP_MAX_QUEUE_SIZE spans (2048) wait for export; more are dropped, never buffered without limit
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('tremolo', opts.serviceVersion);
  const propagator = new core.W3CTraceContextPropagator();
  /** The active context: a synchronous scope, set by `run` for the duration of its callback. */
  let active: TraceContext | undefined;
  const spanContextOf = (ctx: TraceContext) => (ctx instanceof Unsampled ? undefined : trace.getSpanContext(toContext(ctx)));
  const isSampled = (ctx: TraceContext) => ((spanContextOf(ctx)?.traceFlags ?? 0) & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;
  const freshIds = new sdk.RandomIdGenerator();

  return {
    enabled: true,
    start(name: string, o: SpanOptions = {}): SpanHandle {
      const parent = o.parent === 'root' ? undefined : o.parent !== undefined ? o.parent : active;
      // parent-based: under an unsampled position nothing is recorded, and nothing is made
      if (parent instanceof Unsampled) return parent.span;
      if (parent === undefined) {
        if (o.childOnly) return UNSAMPLED_ROOT.span;
        if (ruleSampling) {
          const route = o.attributes?.['http.route'];
          const ratio = ratioFor(opts.rules, opts.defaultRatio, name, typeof route === 'string' ? route : undefined);
          // the draw is the trace id's tail-to-be, so the rule sampler below agrees with it
          const tail = (Math.random() * 0x1_0000_0000) >>> 0;
          if (!sampledTail(tail, ratio)) return UNSAMPLED_ROOT.span;
          idGenerator.pin(tail);
        }
      }
      const parentContext = parent === undefined ? EMPTY_CONTEXT : toContext(parent);
      // links only to spans that exist: an unsampled message's span was never recorded
      let links: Link[] | undefined;
      if (o.links) {
        for (const l of o.links) {
          const sc = spanContextOf(l);
          if (sc && (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED) (links ??= []).push({ context: sc });
        }
      }
      const options: SpanOptionsOtel = { kind: KINDS[o.kind ?? 'internal'] };
      if (o.attributes) options.attributes = otelAttributes(o.attributes);
      if (links) options.links = links;
      if (o.startTime !== undefined) options.startTime = o.startTime;
      // a root under EMPTY_CONTEXT needs no `root: true` (that asks the SDK for a copy of the
      // context without its span, and the root context has none); its draw is made above, so
      // the SDK's rule sampler need not match the rules again
      if (parent === undefined) ruleSampler?.drawn();
      const span = tracer.startSpan(name, options, parentContext);
      return new OtelSpan(span, parentContext);
    },
    current: () => active,
    run<T>(ctx: TraceContext | undefined, fn: () => T): T {
      if (ctx === undefined) return fn();
      const outer = active;
      active = ctx;
      try {
        return fn();
      } finally {
        active = outer;
      }
    },
    outside<T>(fn: () => T): T {
      const outer = active;
      active = undefined;
      try {
        return fn();
      } finally {
        active = outer;
      }
    },
    sampled: isSampled,
    inject(ctx?: TraceContext): string | undefined {
      const c = ctx ?? active;
      if (c === undefined) return undefined;
      if (c instanceof Unsampled) {
        // the other side must follow the decision, not draw again: ids made only now, when needed
        return c.traceparent ?? `00-${freshIds.generateTraceId()}-${freshIds.generateSpanId()}-00`;
      }
      const otel = toContext(c);
      if (!trace.getSpanContext(otel)) return undefined;
      const carrier: Record<string, string> = {};
      propagator.inject(otel, carrier, { set: (k, key, value) => (k[key] = value) });
      return carrier.traceparent;
    },
    extract(traceparent: unknown): TraceContext | undefined {
      // the header is 55 characters in version 00; later versions may append fields
      if (typeof traceparent !== 'string' || traceparent.length > 256) return undefined;
      const ctx = propagator.extract(EMPTY_CONTEXT, { traceparent }, { get: (c, k) => c[k as 'traceparent'], keys: (c) => Object.keys(c) });
      const sc = trace.getSpanContext(ctx);
      if (!sc) return undefined;
      if (ruleSampling && (sc.traceFlags & TraceFlags.SAMPLED) === 0) return new Unsampled(`00-${sc.traceId}-${sc.spanId}-00`);
      return fromContext(ctx);
    },
    ids() {
      const sc = active === undefined ? undefined : spanContextOf(active);
      if (!sc || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
      return { trace_id: sc.traceId, span_id: sc.spanId };
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
