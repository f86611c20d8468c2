/**
 * The Tracing port on the OpenTelemetry SDK for Node. Only `startTracing` imports this file, and
 * only when TRACING_ENABLED is set, so with tracing off none of the SDK is even loaded.
 *
 * Nothing here is global: the tracer provider is not registered with the API's globals and
 * the active context lives in this instance's own AsyncLocalStorage, so several engines in one
 * process (tests, benchmarks) each trace on their own. The standard variables still configure
 * it, read by the SDK: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (resource),
 * OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and _HEADERS (exporter),
 * OTEL_BSP_* (batching), and OTEL_TRACES_SAMPLER / _ARG, which when set replace tremolo's
 * rule sampler (sampling.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ROOT_CONTEXT,
  SpanKind as OtelSpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes as OtelAttributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { core, node, resources, tracing as sdk } from '@opentelemetry/sdk-node';
import { ratioFor, sampledAt, type SampleRule } from './sampling.ts';
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

/** Roots sampled by the first TRACE_SAMPLE_RULES rule matching their name or route. */
class RuleSampler implements sdk.Sampler {
  constructor(
    private readonly rules: readonly SampleRule[],
    private readonly defaultRatio: number,
  ) {}

  shouldSample(_ctx: Context, traceId: string, spanName: string, _kind: OtelSpanKind, attributes: OtelAttributes): sdk.SamplingResult {
    const route = attributes['http.route'];
    const ratio = ratioFor(this.rules, this.defaultRatio, spanName, typeof route === 'string' ? route : undefined);
    return { decision: sampledAt(traceId, ratio) ? sdk.SamplingDecision.RECORD_AND_SAMPLED : sdk.SamplingDecision.NOT_RECORD };
  }

  toString(): string {
    return `TremoloRuleSampler{default=${this.defaultRatio},rules=${this.rules.map((r) => `${r.pattern}=${r.ratio}`).join(',')}}`;
  }
}

const toContext = (ctx: TraceContext): Context => ctx as unknown as Context;
const fromContext = (ctx: Context): TraceContext => ctx as unknown as TraceContext;

function clean(attributes: Attributes | undefined): OtelAttributes | undefined {
  if (!attributes) return undefined;
  const out: OtelAttributes = {};
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = v;
  return out;
}

class OtelSpan implements SpanHandle {
  readonly context: TraceContext;
  readonly recording: boolean;

  constructor(
    private readonly span: Span,
    parent: Context,
  ) {
    this.context = fromContext(trace.setSpan(parent, span));
    this.recording = span.isRecording();
  }

  set(attributes: Attributes): void {
    if (this.recording) this.span.setAttributes(clean(attributes) ?? {});
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

export function createOtelTracing(opts: OtelTracingOptions): Tracing {
  const env = opts.env ?? process.env;
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.serviceVersion }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const exporter = new OTLPTraceExporter(opts.exporterUrl ? { url: opts.exporterUrl } : {});
  const provider = new node.NodeTracerProvider({
    resource,
    // an OTEL_TRACES_SAMPLER the operator set wins: the SDK builds it from the environment
    ...(env.OTEL_TRACES_SAMPLER ? {} : { sampler: new sdk.ParentBasedSampler({ root: new RuleSampler(opts.rules, opts.defaultRatio) }) }),
    // bounded: OTEL_BSP_MAX_QUEUE_SIZE spans (2048) wait for export; more are dropped, never buffered without limit
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('tremolo', opts.serviceVersion);
  const active = new AsyncLocalStorage<Context>();
  const propagator = new core.W3CTraceContextPropagator();
  const currentContext = () => active.getStore() ?? ROOT_CONTEXT;

  return {
    enabled: true,
    start(name: string, o: SpanOptions = {}): SpanHandle {
      const parent = o.parent === 'root' ? ROOT_CONTEXT : o.parent ? toContext(o.parent) : currentContext();
      const links: Link[] = [];
      for (const l of o.links ?? []) {
        const sc = trace.getSpanContext(toContext(l));
        if (sc) links.push({ context: sc });
      }
      const attributes = clean(o.attributes);
      const span = tracer.startSpan(
        name,
        { kind: KINDS[o.kind ?? 'internal'], ...(attributes ? { attributes } : {}), ...(links.length ? { links } : {}), ...(o.parent === 'root' ? { root: true } : {}), ...(o.startTime !== undefined ? { startTime: o.startTime } : {}) },
        parent,
      );
      return new OtelSpan(span, parent);
    },
    current: () => {
      const ctx = active.getStore();
      return ctx ? fromContext(ctx) : undefined;
    },
    run: <T>(ctx: TraceContext | undefined, fn: () => T): T => (ctx ? active.run(toContext(ctx), fn) : fn()),
    outside: <T>(fn: () => T): T => active.exit(fn),
    sampled: (ctx) => ((trace.getSpanContext(toContext(ctx))?.traceFlags ?? 0) & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
    inject(ctx?: TraceContext): string | undefined {
      const c = ctx ? toContext(ctx) : currentContext();
      if (!trace.getSpanContext(c)) return undefined;
      const carrier: Record<string, string> = {};
      propagator.inject(c, carrier, { set: (k, key, value) => (k[key] = value) });
      return carrier.traceparent;
    },
    extract(traceparent: unknown): TraceContext | undefined {
      // the header is 55 characters in version 00; later versions may append fields
      if (typeof traceparent !== 'string' || traceparent.length > 256) return undefined;
      const ctx = propagator.extract(ROOT_CONTEXT, { traceparent }, { get: (c, k) => c[k as 'traceparent'], keys: (c) => Object.keys(c) });
      return trace.getSpanContext(ctx) ? fromContext(ctx) : undefined;
    },
    ids() {
      const sc = trace.getSpanContext(currentContext());
      if (!sc || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
      return { trace_id: sc.traceId, span_id: sc.spanId };
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
