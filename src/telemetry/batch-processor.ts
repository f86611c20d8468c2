/**
 * The span processor that batches sampled spans for export as encoded bytes (otlp-export.ts,
 * SpanBatch) instead of as span objects, which is what the SDK's BatchSpanProcessor holds:
 * each span is written into the current request when it ends, and the span object is garbage
 * from then on. Why: at 100 % sampling the spans waiting in the SDK's queue for a batch of 512
 * survived scavenges and were promoted, and that cost the feed a quarter of its throughput
 * with nothing exported at all; when spans left the queue at once, under a tenth
 * (docs/benchmarks.md, "tracing", session 31).
 *
 * Otherwise it keeps the BatchSpanProcessor's contract and settings (OTEL_BSP_*, read in
 * otel.ts): a batch is sent when it holds `maxExportBatchSize` spans or `scheduledDelayMillis`
 * after its first span; one export at a time, the others waiting; at most `maxQueueSize` spans
 * wait, and past that new spans are dropped and counted, never buffered without bound; an
 * export that has not answered in `exportTimeoutMillis` is given up on, so the next can go.
 * It has the SDK SpanProcessor's shape; like the rest of tremolo outside otel.ts it imports no
 * OpenTelemetry.
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import type { OtlpEncoder, SpanBatch, SpanRecord } from './otlp-export.ts';
import type { TraceExportCounts } from './tracing.ts';

export interface BatchOptions {
  maxExportBatchSize: number;
  maxQueueSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

/** The SDK's defaults, as its BatchSpanProcessor has them. */
export const BATCH_DEFAULTS: BatchOptions = Object.freeze({ maxExportBatchSize: 512, maxQueueSize: 2048, scheduledDelayMillis: 5000, exportTimeoutMillis: 30_000 });

/** Sends a batch: the SDK's OTLP exporter, over SpanBatch (otel.ts). `code` 0 is success. */
export interface BatchExporter {
  export(batch: SpanBatch, done: (result: { code: number; error?: Error }) => void): void;
  shutdown(): Promise<void>;
}

export interface BatchReporting {
  /** An export that failed or timed out: its spans are gone (the exporter has retried what it retries). */
  exportFailed(err: Error): void;
  /** Spans dropped because `maxQueueSize` were waiting, told once the queue takes spans again. */
  dropped(count: number): void;
}

const SAMPLED = 1;

export class EncodingBatchProcessor {
  readonly #options: BatchOptions;
  /** The request being filled. */
  #open: SpanBatch | undefined;
  /** Requests full or due, waiting their turn, oldest first. */
  readonly #due: SpanBatch[] = [];
  /** Spans in #open and #due. */
  #waiting = 0;
  #exporting = false;
  #timer: TimerHandle | undefined;
  #dropped = 0;
  /** What the last request weighed: the next one starts with room for as much. */
  #lastBytes = 16_384;
  /** forceFlush calls waiting for the queue to empty. */
  #flushed: (() => void)[] = [];
  #shutdown: Promise<void> | undefined;
  readonly #counts: TraceExportCounts = { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 };

  constructor(
    private readonly encoder: OtlpEncoder,
    private readonly exporter: BatchExporter,
    private readonly report: BatchReporting,
    private readonly clock: Clock,
    options: Partial<BatchOptions> = {},
  ) {
    const o = { ...BATCH_DEFAULTS, ...options };
    // as the SDK's processor: a batch can't be larger than the queue
    this.#options = { ...o, maxExportBatchSize: Math.min(o.maxExportBatchSize, o.maxQueueSize) };
  }

  onStart(): void {}

  onEnd(span: SpanRecord): void {
    if (this.#shutdown || (span.spanContext().traceFlags & SAMPLED) === 0) return;
    if (this.#waiting >= this.#options.maxQueueSize) {
      this.#dropped++;
      this.#counts.droppedQueueFull++;
      return;
    }
    if (this.#dropped > 0) {
      this.report.dropped(this.#dropped);
      this.#dropped = 0;
    }
    if (this.#open && !this.#open.holds(span)) this.#close();
    const batch = (this.#open ??= this.encoder.batch(span, this.#lastBytes));
    batch.add(span);
    this.#waiting++;
    if (batch.count >= this.#options.maxExportBatchSize) {
      this.#close();
      this.#next();
    } else {
      if (!this.#timer) {
        this.#timer = this.clock.setTimeout(() => {
          this.#timer = undefined;
          this.#close();
          this.#next();
        }, this.#options.scheduledDelayMillis);
        this.#timer.unref?.();
      }
    }
  }

  /** What became of the spans so far (a copy). */
  counts(): TraceExportCounts {
    return { ...this.#counts };
  }

  /** Sends every span that has ended; resolves once they are sent, or their export has failed. */
  forceFlush(): Promise<void> {
    this.#close();
    if (!this.#exporting && this.#due.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#flushed.push(resolve);
      this.#next();
    });
  }

  /** Sends what has ended, then shuts the exporter down; spans that end after are dropped. */
  shutdown(): Promise<void> {
    return (this.#shutdown ??= this.forceFlush().then(() => this.exporter.shutdown()));
  }

  /** The open request joins the due ones. */
  #close(): void {
    if (this.#timer) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#open) this.#due.push(this.#open);
    this.#open = undefined;
  }

  #next(): void {
    if (this.#exporting) return;
    const batch = this.#due.shift();
    if (!batch) {
      for (const resolve of this.#flushed.splice(0)) resolve();
      return;
    }
    this.#waiting -= batch.count;
    this.#lastBytes = batch.byteLength;
    this.#exporting = true;
    let settled = false;
    const settle = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      this.clock.clearTimeout(timeout);
      this.#exporting = false;
      if (err) {
        this.#counts.failedExports++;
        this.#counts.droppedExportFailed += batch.count;
        this.report.exportFailed(err);
      } else this.#counts.exported += batch.count;
      this.#next();
    };
    const timeout = this.clock.setTimeout(() => settle(new Error(`span export took over ${this.#options.exportTimeoutMillis} ms`)), this.#options.exportTimeoutMillis);
    timeout.unref?.();
    this.exporter.export(batch, (result) => settle(result.code === 0 ? undefined : (result.error ?? new Error('span export failed'))));
  }
}
