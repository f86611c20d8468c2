/**
 * The tracer port: what actors, storage and transport know of tracing. They depend on this
 * interface only; OpenTelemetry lives behind it in otel.ts and is imported (dynamically)
 * only when TRACING_ENABLED is set. With tracing off every part gets `noopTracing`, whose calls
 * do nothing and allocate nothing, so no OpenTelemetry code runs on the hot path.
 *
 * The active context is a synchronous scope, not an async one: `run(ctx, fn)` makes `ctx` active
 * while `fn` runs up to its first `await`, and what runs after that sees no context. (An async
 * context means AsyncLocalStorage, whose promise hooks on Node 20 tax every promise of the
 * process once any context is entered, sampled or not: most of tracing's cost at 1 %.) So the
 * context crosses tremolo's awaits explicitly, at its own boundaries: an actor message carries
 * its sender's (taken when it is sent), a turn runs its storage call in its span, an HTTP
 * handler and a socket event handler start in their request's span, a job's stages take the
 * attempt's span as their parent. A span started where none of these reached has no parent.
 */

/** A position in a trace (a span, or a remote parent), opaque outside the implementation. */
export interface TraceContext {
  /** Never set: only makes the type nominal, so a plain object is not a context. */
  readonly __traceContext?: never;
}

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';

/** Attribute values; undefined ones are left out. Never tokens, key values or user text. */
export type Attributes = Readonly<Record<string, string | number | boolean | undefined>>;

export interface TraceIds {
  trace_id: string;
  span_id: string;
}

/** What became of the sampled spans a process made, since it started (for metrics). */
export interface TraceExportCounts {
  /** Spans in exports the collector accepted. */
  exported: number;
  /** Spans dropped because OTEL_BSP_MAX_QUEUE_SIZE were waiting for export. */
  droppedQueueFull: number;
  /** Spans lost with an export that failed or timed out. */
  droppedExportFailed: number;
  /** Exports that failed or timed out. */
  failedExports: number;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent: a context, or 'root' for a new trace. Default: the active context. */
  parent?: TraceContext | 'root' | undefined;
  /** Spans this one is causally related to without being their child (a batch's messages). */
  links?: readonly TraceContext[];
  /** When the span began (ms since the epoch), for work timed elsewhere (a worker thread). Default: now. */
  startTime?: number;
  /**
   * A span that only means something inside an operation (a storage call): with no parent
   * (none given, none active) it is not started, rather than starting a trace of its own.
   */
  childOnly?: boolean;
}

/** A started span. */
export interface SpanHandle {
  /** The context in which this span is the active one: children and `run` take it. */
  readonly context: TraceContext;
  /** Whether this span is recorded (sampled); attributes on an unrecorded span are dropped. */
  readonly recording: boolean;
  set(attributes: Attributes): void;
  /** This span's ids when it is sampled (exemplars, log lines). */
  ids(): TraceIds | undefined;
  /** Marks the span failed, with the error recorded as an exception event. */
  fail(err: unknown): void;
  /** Ends the span, now or at `endTime` (ms since the epoch) for work timed elsewhere. */
  end(endTime?: number): void;
}

export interface Tracing {
  readonly enabled: boolean;
  start(name: string, opts?: SpanOptions): SpanHandle;
  /** The active context, or undefined when none (always, with tracing off). */
  current(): TraceContext | undefined;
  /**
   * Runs `fn` with `ctx` as the active context: spans started by it, synchronously, are its
   * children. Up to `fn`'s first `await` only (see above); `ctx` undefined leaves it as it is.
   */
  run<T>(ctx: TraceContext | undefined, fn: () => T): T;
  /** Runs `fn` with no active context: background work started by a request must not join its trace. */
  outside<T>(fn: () => T): T;
  /** Whether spans under `ctx` are sampled. */
  sampled(ctx: TraceContext): boolean;
  /** A W3C `traceparent` for `ctx` (default: the active context), or undefined when there is none. */
  inject(ctx?: TraceContext): string | undefined;
  /** The W3C `tracestate` to send along with `inject(ctx)`: vendors' entries, passed on as they came; undefined when none. */
  tracestate(ctx?: TraceContext): string | undefined;
  /**
   * A remote parent from a W3C `traceparent` and its `tracestate`; a malformed traceparent is
   * ignored (undefined), and so are malformed tracestate members, as the spec says.
   */
  extract(traceparent: unknown, tracestate?: unknown): TraceContext | undefined;
  /** `trace_id` and `span_id` of the active span, for log lines and exemplars; undefined when none is sampled. */
  ids(): TraceIds | undefined;
  /** Exports every finished span now (tests, shutdown). */
  flush(): Promise<void>;
  /** What became of the sampled spans so far: exported, or dropped and why. */
  exportCounts(): TraceExportCounts;
  shutdown(): Promise<void>;
}

const NOOP_SPAN: SpanHandle = Object.freeze({
  context: Object.freeze({}) as TraceContext,
  recording: false,
  set() {},
  ids: () => undefined,
  fail() {},
  end() {},
});

/** Tracing off: every call is a constant-time no-op. */
export const noopTracing: Tracing = Object.freeze({
  enabled: false,
  start: () => NOOP_SPAN,
  current: () => undefined,
  run: <T>(_ctx: TraceContext | undefined, fn: () => T): T => fn(),
  outside: <T>(fn: () => T): T => fn(),
  sampled: () => false,
  inject: () => undefined,
  tracestate: () => undefined,
  extract: () => undefined,
  ids: () => undefined,
  flush: () => Promise.resolve(),
  exportCounts: () => ({ exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 }),
  shutdown: () => Promise.resolve(),
});

/**
 * Ends `span` when `settling` settles, failed if it rejects, on a branch of its own: whoever
 * awaits `settling` itself is answered as soon as it would be untraced. (Awaiting the work and
 * then ending the span, in an async wrapper or a `.then` the caller awaits, costs that caller a
 * microtask hop or two, and under load each hop waits behind everything queued before it.)
 */
export function endWith(span: SpanHandle, settling: Promise<unknown>): void {
  settling.then(
    () => span.end(),
    (err: unknown) => {
      span.fail(err);
      span.end();
    },
  );
}

/** The message of an error for a span's status, without any value the error may carry. */
export function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'Error';
}
