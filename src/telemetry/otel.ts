/**
 * The Tracing port on OpenTelemetry. Only `startTracing` imports this file, and only when
 * TRACING_ENABLED is set, so with tracing off none of OpenTelemetry is even loaded.
 *
 * What is OpenTelemetry's and what is tremolo's:
 * - OpenTelemetry's: the API's types (span contexts, kinds, flags, status codes), the W3C
 *   propagator, the resource and its detectors, the standard samplers (OTEL_TRACES_SAMPLER), and
 *   the OTLP/HTTP exporter (transport, retries, compression, OTEL_EXPORTER_OTLP_*).
 * - tremolo's: the span while it runs (`RecordingSpan`), its batching (batch-processor.ts) and its
 *   encoding (otlp-export.ts). The SDK's tracer builds a span object of ~1.4 KB (holders for
 *   attributes, links and events, time pairs, status) that lives as long as the operation: a
 *   like's, as long as the like waits for its group commit. With thousands of likes in flight
 *   those spans outlived the scavenges and were promoted, and 100 % sampling cost likes a third
 *   of their throughput, most of it garbage collection (docs/benchmarks.md, "tracing"). A span
 *   here is one object, which is also its own context and, once ended, the record the encoder
 *   writes.
 *
 * Nothing here is global: nothing is registered with the API's globals and the active context is
 * this instance's own, so several engines in one process (tests, benchmarks) each trace on their own.
 *
 * What keeps tracing cheap at a low ratio (issue 16's target: 1 % costs at most 5 %):
 * - No AsyncLocalStorage. On Node 20 entering one turns on promise hooks for the whole process,
 *   so every promise of every request would pay, sampled or not. The active context is a
 *   synchronous scope instead (`run`); tremolo carries it across its own awaits explicitly
 *   (the actor message, the turn, the HTTP handler, the job attempt), see tracing.ts.
 * - An unsampled root is decided before anything is made: its span and every descendant's is
 *   one shared no-op, and no ids are made unless its context leaves the process (`inject`, so
 *   the other side follows the decision).
 * - A sampled span waits for its export as bytes, not as objects (batch-processor.ts).
 *
 * The standard variables configure it: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (resource),
 * OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS and _PROTOCOL
 * (exporter), OTEL_TRACES_EXPORTER (otlp, console, both, or none), OTEL_TRACES_SAMPLER / _ARG,
 * which when set replace tremolo's rule sampler (sampling.ts), OTEL_SPAN_LINK_COUNT_LIMIT, and
 * OTEL_BSP_* (batching), the last three read here as the SDK reads them. OTEL_SDK_DISABLED is
 * read before this file is loaded (index.ts).
 */
import type { Worker } from 'node:worker_threads';
import {
  diag,
  ROOT_CONTEXT,
  SpanKind as OtelSpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes as OtelAttributes,
  type HrTime,
  type Link,
  type SpanContext,
  type TraceState,
} from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import * as resources from '@opentelemetry/resources';
import * as sdk from '@opentelemetry/sdk-trace-base';
import { systemClock } from '../domain/clock.ts';
import { startWorker } from '../worker-module.ts';
import { EncodingBatchProcessor, type BatchExporter, type BatchOptions, type BatchReporting } from './batch-processor.ts';
import type { ExportThreadOptions, ExportThreadRequest, ExportThreadResult } from './export-thread.ts';
import type { OtlpEncoder, Resource, Scope, SpanBatch, SpanRecord } from './otlp-export.ts';
import { OtlpJsonEncoder } from './otlp-json.ts';
import { OtlpProtoEncoder } from './otlp-proto.ts';
import { RuleMatches, sampledTail, type SampleRule } from './sampling.ts';
import { SpanClock } from './span-clock.ts';
import { errorCode, type Attributes, type SpanHandle, type SpanKind, type SpanOptions, type TraceContext, type TraceExportCounts, type TraceIds, type Tracing } from './tracing.ts';

export interface OtelTracingOptions {
  serviceName: string;
  serviceVersion: string;
  /** TRACE_SAMPLE_RATIO: roots that no rule matches. */
  defaultRatio: number;
  /** TRACE_SAMPLE_RULES. */
  rules: readonly SampleRule[];
  /** Where spans go; default: the OTEL_EXPORTER_OTLP_* variables (http://localhost:4318/v1/traces). */
  exporterUrl?: string;
  /** The process environment, for OTEL_TRACES_SAMPLER, OTEL_TRACES_EXPORTER and the OTLP protocol. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where OTEL_TRACES_EXPORTER=console writes, a line at a time. Default: standard output. */
  console?: (line: string) => void;
  /**
   * Told of failed exports and dropped spans (the process's logger). Default: OpenTelemetry's
   * diag, which says nothing unless a logger was registered with it, as nothing is here.
   */
  report?: BatchReporting;
}

const KINDS: Record<SpanKind, OtelSpanKind> = {
  internal: OtelSpanKind.INTERNAL,
  server: OtelSpanKind.SERVER,
  client: OtelSpanKind.CLIENT,
  producer: OtelSpanKind.PRODUCER,
  consumer: OtelSpanKind.CONSUMER,
};

/** The SDK's default for OTEL_SPAN_LINK_COUNT_LIMIT. */
const LINK_COUNT_LIMIT = 128;

/**
 * OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, read as the SDK reads them (its reader is not
 * exported), into the SDK's samplers. An unknown name is refused at start-up, where the SDK
 * would log it and sample everything.
 */
function samplerFromEnv(name: string, arg: string | undefined): sdk.Sampler {
  const ratio = () => {
    const n = arg === undefined || arg.trim() === '' ? Number.NaN : Number(arg);
    if (n >= 0 && n <= 1) return n;
    diag.error(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(arg ?? '')} is not a ratio from 0 to 1, defaulting to 1.`);
    return 1;
  };
  switch (name) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return new sdk.TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_on':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio()) });
    default:
      throw new Error(
        `OTEL_TRACES_SAMPLER ${JSON.stringify(name)} is not supported: set always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio, or unset it for TRACE_SAMPLE_RULES`,
      );
  }
}

/** A random unsigned 32-bit integer. */
const randomWord = (): number => (Math.random() * 0x1_0000_0000) >>> 0;

/** Random W3C ids as lowercase hex, never all zeros (the first word is never 0). */
class Ids {
  readonly #bytes = Buffer.allocUnsafe(16);

  /** A trace id whose last 32 bits are `tail` (the sampling draw, sampling.ts). */
  traceId(tail = randomWord()): string {
    this.#bytes.writeUInt32BE(randomWord() || 1, 0);
    this.#bytes.writeUInt32BE(randomWord(), 4);
    this.#bytes.writeUInt32BE(randomWord(), 8);
    this.#bytes.writeUInt32BE(tail, 12);
    return this.#bytes.toString('hex');
  }

  spanId(): string {
    this.#bytes.writeUInt32BE(randomWord() || 1, 0);
    this.#bytes.writeUInt32BE(randomWord(), 4);
    return this.#bytes.toString('hex', 0, 8);
  }
}

/**
 * A position in a trace that is not sampled and has no span: a local root that lost the draw,
 * or a remote parent whose `traceparent` says "not sampled" (kept with its `tracestate`, to
 * pass on as they came). Everything under it is unsampled too (parent-based), and costs one
 * shared no-op span.
 */
class Unsampled implements TraceContext {
  declare readonly __traceContext?: never;
  readonly span: SpanHandle;
  constructor(
    readonly traceparent?: string,
    readonly tracestate?: string,
  ) {
    this.span = Object.freeze({ context: this, recording: false, set() {}, ids: () => undefined, fail() {}, end() {} });
  }
}
const UNSAMPLED_ROOT = new Unsampled();

/** A sampled parent in another process, from its `traceparent`. */
class RemoteParent implements TraceContext {
  declare readonly __traceContext?: never;
  constructor(readonly spanContext: SpanContext) {}
}

/** Where every span of one Tracing goes when it ends, and what it was made by. */
interface SpanSink {
  readonly resource: Resource;
  readonly scope: Scope;
  /** The spans' times: sub-millisecond and monotonic, so a child lies within its parent (span-clock.ts). */
  readonly clock: SpanClock;
  onEnd(span: RecordingSpan): void;
  /**
   * A span never ended, kept for the tracer's life for its shape: V8 keeps a class's shape, and
   * the code optimized for it, only while an object of that shape lives (see OtlpEncoder,
   * otlp-export.ts). At a low ratio there is often no sampled span in flight, and each GC then
   * cost `start`, `end` and the actor turn's code their optimization.
   */
  keepShape?: RecordingSpan;
}

const UNSET = Object.freeze({ code: SpanStatusCode.UNSET });
const NO_TIME: HrTime = Object.freeze([0, 0]) as unknown as HrTime;
const NONE: readonly never[] = Object.freeze([]);
const NO_ATTRIBUTES: OtelAttributes = Object.freeze({});
type SpanEvent = SpanRecord['events'][number];

/** The attributes set on a span, without the undefined ones, in one object. */
function definedAttributes(first: Attributes | undefined, later: readonly Attributes[] | undefined): OtelAttributes {
  if (later === undefined) return first === undefined ? NO_ATTRIBUTES : withoutUndefined(first);
  const all: OtelAttributes = first === undefined ? {} : assignDefined({}, first);
  for (const attributes of later) assignDefined(all, attributes);
  return all;
}

/** `attributes` itself when no value is undefined (the usual case), else a copy without them. */
function withoutUndefined(attributes: Attributes): OtelAttributes {
  const keys = Object.keys(attributes);
  for (let i = 0; i < keys.length; i++) if (attributes[keys[i]!] === undefined) return assignDefined({}, attributes);
  return attributes as OtelAttributes;
}

function assignDefined(to: OtelAttributes, from: Attributes): OtelAttributes {
  const keys = Object.keys(from);
  for (let i = 0; i < keys.length; i++) {
    const value = from[keys[i]!];
    if (value !== undefined) to[keys[i]!] = value;
  }
  return to;
}

/**
 * A sampled span of this process (see the top of this file for why it is tremolo's). It is
 * three things at once, so that a span in flight is one object: the handle its operation holds
 * (SpanHandle), the context its children and `run` take (TraceContext, with its ids as the API's
 * SpanContext), and, once it ends, the finished span the encoders write (SpanRecord), handed to
 * the batch processor there and then. Times come from the sink's SpanClock, or from the caller
 * for work timed elsewhere (a worker thread). What is the same for every span is
 * on the prototype, not in each span: thousands may be in flight.
 */
class RecordingSpan implements SpanHandle, TraceContext, SpanContext, SpanRecord {
  declare readonly __traceContext?: never;
  // the finished span's fields, set when it ends
  startTime: HrTime = NO_TIME;
  endTime: HrTime = NO_TIME;
  status: SpanRecord['status'] = UNSET;
  events: readonly SpanEvent[] = NONE;
  attributes: OtelAttributes = NO_ATTRIBUTES;
  /** When it started, in ms since the epoch. */
  readonly #start: number;
  readonly #attributes: Attributes | undefined;
  #later: Attributes[] | undefined;

  constructor(
    private readonly sink: SpanSink,
    readonly name: string,
    readonly kind: OtelSpanKind,
    readonly traceId: string,
    readonly spanId: string,
    readonly traceState: TraceState | undefined,
    readonly parentSpanContext: SpanContext | undefined,
    attributes: Attributes | undefined,
    readonly links: readonly Link[],
    readonly droppedLinksCount: number,
    startTime: number | undefined,
  ) {
    this.#attributes = attributes;
    this.#start = startTime ?? sink.clock.now();
  }

  get recording(): true {
    return true;
  }
  get traceFlags(): number {
    return TraceFlags.SAMPLED;
  }
  get isRemote(): false {
    return false;
  }
  get droppedAttributesCount(): number {
    return 0;
  }
  get droppedEventsCount(): number {
    return 0;
  }
  get context(): TraceContext {
    return this;
  }
  spanContext(): SpanContext {
    return this;
  }
  get resource(): Resource {
    return this.sink.resource;
  }
  get instrumentationScope(): Scope {
    return this.sink.scope;
  }
  get #ended(): boolean {
    return this.endTime !== NO_TIME;
  }

  set(attributes: Attributes): void {
    if (!this.#ended) (this.#later ??= []).push(attributes);
  }

  ids(): TraceIds {
    return { trace_id: this.traceId, span_id: this.spanId };
  }

  fail(err: unknown): void {
    if (this.#ended) return;
    const code = errorCode(err);
    this.status = { code: SpanStatusCode.ERROR, message: code };
    // the code and type only: an error's message may quote user input
    const attributes = { 'exception.type': err instanceof Error ? err.name : typeof err, 'exception.message': code };
    this.events = [{ name: 'exception', time: core.millisToHrTime(this.sink.clock.now()), attributes, droppedAttributesCount: 0 }];
  }

  end(endTime?: number): void {
    if (this.#ended) return;
    const start = this.#start;
    const end = endTime ?? this.sink.clock.now();
    this.startTime = core.millisToHrTime(start);
    // as the SDK: an end before the start is taken as no duration
    this.endTime = end > start ? core.millisToHrTime(end) : this.startTime;
    this.attributes = definedAttributes(this.#attributes, this.#later);
    this.#later = undefined;
    this.sink.onEnd(this);
  }
}

/** Requests written in one of OTLP/HTTP's encodings. */
interface Encoding {
  protocol: ExportThreadOptions['protocol'];
  encoder: OtlpEncoder;
}

/**
 * The encoding OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or OTEL_EXPORTER_OTLP_PROTOCOL) asks for:
 * http/protobuf unless set, as the OTLP specification says. gRPC is not spoken here: a
 * collector takes OTLP/HTTP on its port 4318.
 */
function encodingFor(env: Readonly<Record<string, string | undefined>>): Encoding {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol === 'http/protobuf') return { protocol, encoder: new OtlpProtoEncoder() };
  if (protocol === 'http/json') return { protocol, encoder: new OtlpJsonEncoder() };
  throw new Error(`OTLP protocol ${JSON.stringify(protocol)} is not supported: tremolo exports traces over OTLP/HTTP, set http/protobuf (the default) or http/json`);
}

type ExportDone = Parameters<BatchExporter['export']>[1];

/**
 * Sends exports through the SDK's OTLP/HTTP exporter in a worker thread of its own
 * (export-thread.ts says why), started at the first export, so a process that exports nothing
 * starts none. Each request's bytes are copied once into a buffer that is then handed over, not
 * copied again. The thread keeps the process alive only while an export is in flight, as a
 * request on a socket would; if it dies, the exports in flight fail and the next export starts
 * another. The environment is read when the tracer is made, as the SDK's exporter reads its own.
 */
export class ExportThread implements BatchExporter {
  #worker: Worker | undefined;
  #exited: Promise<unknown> | undefined;
  readonly #inFlight = new Map<number, ExportDone>();
  #lastId = 0;
  readonly #env = { ...process.env };

  constructor(
    private readonly options: ExportThreadOptions,
    /** The thread's module, beside this file (another only in tests). */
    private readonly module = './export-thread',
  ) {
    // refused here, at start-up, as the SDK's exporter refused it when it was made in this thread
    if (options.url !== undefined && !URL.canParse(options.url)) throw new Error(`Configuration: Could not parse user-provided export URL: '${options.url}'`);
  }

  export(batch: SpanBatch, done: ExportDone): void {
    const worker = (this.#worker ??= this.#start());
    const id = ++this.#lastId;
    if (this.#inFlight.size === 0) worker.ref();
    this.#inFlight.set(id, done);
    const body = new Uint8Array(batch.body());
    const request: ExportThreadRequest = { id, body, count: batch.count };
    worker.postMessage(request, [body.buffer]);
  }

  async shutdown(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    const request: ExportThreadRequest = { shutdown: true };
    worker.postMessage(request);
    worker.ref();
    await this.#exited;
  }

  #start(): Worker {
    const worker = startWorker(this.module, import.meta.url, { workerData: this.options, env: this.#env });
    worker.unref();
    worker.on('message', ({ id, code, error }: ExportThreadResult) => {
      this.#settle(id, { code, ...(error ? { error: Object.assign(new Error(error.message), error) } : {}) });
    });
    // an error (the thread threw) is followed by exit, where the exports in flight fail with it
    let crash: Error | undefined;
    worker.on('error', (err) => (crash = err));
    this.#exited = new Promise((resolve) =>
      worker.once('exit', (exitCode) => {
        if (this.#worker === worker) this.#worker = undefined;
        const why = `the span export thread exited (code ${exitCode}${crash ? `, ${crash.message}` : ''}) before the export was sent`;
        for (const id of [...this.#inFlight.keys()]) this.#settle(id, { code: 1, error: new Error(why, { cause: crash }) });
        resolve(exitCode);
      }),
    );
    return worker;
  }

  #settle(id: number, result: Parameters<ExportDone>[0]): void {
    const done = this.#inFlight.get(id);
    this.#inFlight.delete(id);
    if (this.#inFlight.size === 0) this.#worker?.unref();
    done?.(result);
  }
}

/**
 * OTEL_TRACES_EXPORTER, as the SDK reads it: a list of `otlp` (the default), `console`, or
 * `none` alone (spans are still made, so ids reach log lines and other processes, but none is
 * exported). Anything else is refused at start-up, where the SDK would warn and export nothing.
 */
function exportersFromEnv(value: string | undefined): ('otlp' | 'console')[] {
  const names = [...new Set((value ?? '').split(',').map((n) => n.trim()).filter(Boolean))];
  if (names.length === 0) return ['otlp'];
  if (names.length === 1 && names[0] === 'none') return [];
  for (const name of names) {
    if (name !== 'otlp' && name !== 'console') {
      throw new Error(`OTEL_TRACES_EXPORTER ${JSON.stringify(value)} is not supported: set otlp (the default), console, otlp,console, or none on its own`);
    }
  }
  return names as ('otlp' | 'console')[];
}

/**
 * OTEL_TRACES_EXPORTER=console: each span, once it ends, as one line of OTLP JSON (a whole
 * ExportTraceServiceRequest, so a line can be posted to a collector as it is). Every span on its
 * own line at once, as the SDK's console exporter writes them (it is given a simple processor,
 * not a batching one).
 */
class ConsoleExporter implements BatchExporter {
  constructor(private readonly write: (line: string) => void) {}
  export(batch: SpanBatch, done: (result: { code: number }) => void): void {
    this.write(`${batch.body().toString('utf8')}\n`);
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
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

/** The W3C propagator's carrier: `traceparent` and `tracestate`, each a string. */
type Carrier = { traceparent?: string; tracestate?: string };
const CARRIER_SETTER = {
  set: (carrier: Carrier, key: string, value: string) => {
    if (key === 'traceparent' || key === 'tracestate') carrier[key] = value;
  },
};
const CARRIER_GETTER = {
  get: (carrier: Carrier, key: string) => (key === 'traceparent' ? carrier.traceparent : key === 'tracestate' ? carrier.tracestate : undefined),
  keys: () => ['traceparent', 'tracestate'],
};
/**
 * The longest `tracestate` taken, a bound on hostile input: well above the 512 characters the
 * W3C specification asks to be passed on (the propagator keeps its first 32 members). Longer is
 * ignored; the `traceparent` is kept.
 */
const TRACESTATE_MAX_CHARS = 8192;

export function createOtelTracing(opts: OtelTracingOptions): Tracing {
  const env = opts.env ?? process.env;
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.serviceVersion }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const reporting: BatchReporting = opts.report ?? {
    exportFailed: (err) => core.globalErrorHandler(err),
    dropped: (count) => diag.warn(`Dropped ${count} spans because maxQueueSize reached`),
  };
  // bounded: OTEL_BSP_MAX_QUEUE_SIZE spans (2048) wait for export; more are dropped, never buffered without limit
  const processors = exportersFromEnv(env.OTEL_TRACES_EXPORTER).map((name) => {
    if (name === 'console') {
      const write = opts.console ?? ((line: string) => void process.stdout.write(line));
      return new EncodingBatchProcessor(new OtlpJsonEncoder(), new ConsoleExporter(write), reporting, systemClock, { ...batchOptionsFromEnv(), maxExportBatchSize: 1 });
    }
    const encoding = encodingFor(env);
    return new EncodingBatchProcessor(encoding.encoder, new ExportThread({ url: opts.exporterUrl, protocol: encoding.protocol, contentType: encoding.encoder.contentType }), reporting, systemClock, batchOptionsFromEnv());
  });
  const [only] = processors;
  const sink: SpanSink = {
    resource,
    scope: { name: 'tremolo', version: opts.serviceVersion },
    clock: new SpanClock(),
    // one exporter, the usual case, without a loop
    onEnd:
      processors.length === 1
        ? (span) => only!.onEnd(span)
        : (span) => {
            for (const p of processors) p.onEnd(span);
          },
  };
  const ids = new Ids();
  sink.keepShape = new RecordingSpan(sink, 'shape', OtelSpanKind.INTERNAL, ids.traceId(), ids.spanId(), undefined, undefined, undefined, NONE, 0, undefined);
  const linkLimit = core.getNumberFromEnv('OTEL_SPAN_LINK_COUNT_LIMIT') ?? LINK_COUNT_LIMIT;
  const matches = new RuleMatches(opts.rules);
  // an OTEL_TRACES_SAMPLER the operator set wins over TRACE_SAMPLE_RULES: it then decides every
  // span (its rule is not ours to predict), where the rules decide roots and the rest follow them
  const samplerName = env.OTEL_TRACES_SAMPLER?.trim();
  const envSampler = samplerName ? samplerFromEnv(samplerName, env.OTEL_TRACES_SAMPLER_ARG) : undefined;
  const propagator = new core.W3CTraceContextPropagator();
  /** The active context: a synchronous scope, set by `run` for the duration of its callback. */
  let active: TraceContext | undefined;
  const spanContextOf = (ctx: TraceContext): SpanContext | undefined =>
    ctx instanceof RecordingSpan ? ctx : ctx instanceof RemoteParent ? ctx.spanContext : undefined;
  const isSampled = (ctx: TraceContext) => ((spanContextOf(ctx)?.traceFlags ?? 0) & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;
  /** A context as the API has them, for the propagator and an operator's sampler. */
  const apiContext = (sc: SpanContext | undefined) => (sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT);

  return {
    enabled: true,
    start(name: string, o: SpanOptions = {}): SpanHandle {
      const parent = o.parent === 'root' ? undefined : o.parent !== undefined ? o.parent : active;
      // parent-based: under an unsampled position nothing is recorded, and nothing is made
      if (parent instanceof Unsampled) return parent.span;
      const parentSpan = parent === undefined ? undefined : spanContextOf(parent);
      if (parentSpan === undefined && o.childOnly) return UNSAMPLED_ROOT.span;
      let traceId: string;
      if (parentSpan) traceId = parentSpan.traceId;
      else if (envSampler) traceId = ids.traceId();
      else {
        const route = o.attributes?.['http.route'];
        const ratio = matches.ratio(opts.defaultRatio, name, typeof route === 'string' ? route : undefined);
        // the draw is the trace id's tail, so `sampledAt` agrees with it wherever the id goes
        const tail = randomWord();
        if (!sampledTail(tail, ratio)) return UNSAMPLED_ROOT.span;
        traceId = ids.traceId(tail);
      }
      // links only to spans that exist (an unsampled message's span was never recorded), and
      // as many as the SDK would keep
      let links: Link[] | undefined;
      let droppedLinks = 0;
      if (o.links) {
        for (const l of o.links) {
          const sc = spanContextOf(l);
          if (!sc || (sc.traceFlags & TraceFlags.SAMPLED) === 0) continue;
          if ((links ??= []).length < linkLimit) links.push({ context: sc });
          else droppedLinks++;
        }
      }
      const kind = KINDS[o.kind ?? 'internal'];
      const spanId = ids.spanId();
      let traceState = parentSpan?.traceState;
      if (envSampler) {
        const result = envSampler.shouldSample(apiContext(parentSpan), traceId, name, kind, (o.attributes ?? {}) as OtelAttributes, links ?? []);
        if (result.decision !== sdk.SamplingDecision.RECORD_AND_SAMPLED) return new Unsampled(`00-${traceId}-${spanId}-00`, (result.traceState ?? traceState)?.serialize()).span;
        traceState = result.traceState ?? traceState;
      }
      return new RecordingSpan(sink, name, kind, traceId, spanId, traceState, parentSpan, o.attributes, links ?? NONE, droppedLinks, o.startTime);
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
        return c.traceparent ?? `00-${ids.traceId()}-${ids.spanId()}-00`;
      }
      const carrier: Carrier = {};
      propagator.inject(apiContext(spanContextOf(c)), carrier, CARRIER_SETTER);
      return carrier.traceparent;
    },
    tracestate(ctx?: TraceContext): string | undefined {
      const c = ctx ?? active;
      if (c === undefined) return undefined;
      if (c instanceof Unsampled) return c.tracestate;
      return spanContextOf(c)?.traceState?.serialize() || undefined;
    },
    extract(traceparent: unknown, tracestate?: unknown): TraceContext | undefined {
      // the header is 55 characters in version 00; later versions may append fields
      if (typeof traceparent !== 'string' || traceparent.length > 256) return undefined;
      const carrier: Carrier = { traceparent };
      // the propagator parses it (malformed members dropped, as the specification says)
      if (typeof tracestate === 'string' && tracestate.length <= TRACESTATE_MAX_CHARS) carrier.tracestate = tracestate;
      const sc = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, carrier, CARRIER_GETTER));
      if (!sc) return undefined;
      if (!envSampler && (sc.traceFlags & TraceFlags.SAMPLED) === 0) return new Unsampled(`00-${sc.traceId}-${sc.spanId}-00`, sc.traceState?.serialize() || undefined);
      return new RemoteParent(sc);
    },
    ids() {
      const sc = active === undefined ? undefined : spanContextOf(active);
      if (!sc || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
      return { trace_id: sc.traceId, span_id: sc.spanId };
    },
    flush: async () => void (await Promise.all(processors.map((p) => p.forceFlush()))),
    exportCounts() {
      const total: TraceExportCounts = { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 };
      for (const c of processors.map((p) => p.counts())) {
        total.exported += c.exported;
        total.droppedQueueFull += c.droppedQueueFull;
        total.droppedExportFailed += c.droppedExportFailed;
        total.failedExports += c.failedExports;
      }
      return total;
    },
    shutdown: async () => void (await Promise.all(processors.map((p) => p.shutdown()))),
  };
}
