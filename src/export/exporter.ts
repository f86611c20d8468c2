/**
 * The exporter: reads the behaviour log (storage/interactions.ts), batches by size and time,
 * writes each batch to every sink, and trims it from storage only once all of them
 * acknowledged it. At-least-once delivery (a crash or a failing sink means the batch is read
 * and written again); the sinks deduplicate on the event id, so rows are exactly once.
 *
 * Everything not yet trimmed is pending, so the log itself is the exporter's consumer state:
 * a restarted exporter (or another process's, `tremolo export`) starts from the oldest
 * event kept, with no offsets to lose. One exporter per deployment: two would deliver the same
 * batches twice (harmless, deduplicated, but double work).
 *
 * While a sink fails, events wait in storage, bounded by EXPORT_MAX_LAG per stream (writers
 * are then refused with E_EXPORT_BACKLOG: nothing acknowledged is dropped); the lag is a
 * metric, and a warning is logged from 80 % of the bound.
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import type { ExportMetrics } from '../metrics.ts';
import type { InteractionLog } from '../storage/interactions.ts';
import type { InteractionSink } from './sink.ts';

export interface ExporterOptions {
  log: InteractionLog;
  sinks: readonly InteractionSink[];
  clock: Clock;
  /** Most events per batch. */
  batchMax: number;
  /** Longest a batch waits to fill up once its first event is seen. */
  batchWaitMs: number;
  /** Longest pause between retries while a sink fails (doubling from 100 ms). */
  retryMaxMs: number;
  /** EXPORT_MAX_LAG: the per-stream bound, for the near-full warning. */
  maxLag: number;
  metrics?: ExportMetrics;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** How often an idle exporter looks for new events. Default: batchWaitMs / 4, at most 250 ms. */
  pollMs?: number;
}

export interface ExporterStats {
  /** Events trimmed after every sink acknowledged them. */
  exported: number;
  batches: number;
  failures: number;
}

const NEAR_FULL = 0.8;

export class Exporter {
  readonly stats: ExporterStats = { exported: 0, batches: 0, failures: 0 };
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private wake: (() => void) | undefined;
  private warnedNearFull = false;

  constructor(private readonly opts: ExporterOptions) {
    if (!Number.isInteger(opts.batchMax) || opts.batchMax < 1) throw new RangeError('batchMax must be an integer >= 1');
    if (opts.sinks.length === 0) throw new RangeError('an exporter needs at least one sink');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the batch in flight (delivered and trimmed, or left for the next exporter). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** Delivers everything pending now, in batches (for tests and graceful shutdown). */
  async drain(): Promise<void> {
    for (;;) {
      const page = await this.opts.log.read(null, this.opts.batchMax);
      if (page.events.length === 0) return;
      await this.deliver(page.events, page.position);
    }
  }

  private async run(): Promise<void> {
    const { clock, batchMax, batchWaitMs } = this.opts;
    const poll = this.opts.pollMs ?? Math.min(250, Math.max(1, Math.floor(batchWaitMs / 4)));
    let firstSeen: number | undefined;
    let backoff = 0;
    while (this.running) {
      try {
        const page = await this.opts.log.read(null, batchMax);
        const n = page.events.length;
        if (n === 0) {
          firstSeen = undefined;
          await this.reportLag();
          await this.sleep(poll);
          continue;
        }
        firstSeen ??= clock.now();
        const waited = clock.now() - firstSeen;
        if (n < batchMax && waited < batchWaitMs) {
          await this.sleep(Math.min(poll, batchWaitMs - waited));
          continue;
        }
        await this.deliver(page.events, page.position);
        firstSeen = undefined;
        backoff = 0;
      } catch (err) {
        backoff = Math.min(this.opts.retryMaxMs, backoff === 0 ? 100 : backoff * 2);
        this.opts.logger.warn({ err, retryInMs: backoff }, 'interaction export failed; the batch waits in storage and is retried');
        await this.reportLag().catch(() => {});
        await this.sleep(backoff);
      }
    }
  }

  private async deliver(events: Parameters<InteractionSink['write']>[0], position: string): Promise<void> {
    const { sinks, metrics, clock } = this.opts;
    const started = clock.now();
    const results = await Promise.allSettled(
      sinks.map(async (sink) => {
        try {
          await sink.write(events);
        } catch (err) {
          metrics?.failures.inc({ sink: sink.name });
          throw err;
        }
        metrics?.batchSeconds.observe({ sink: sink.name }, (clock.now() - started) / 1000);
        metrics?.rows.inc({ sink: sink.name }, events.length);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.stats.failures++;
      throw failed.reason;
    }
    // every sink has the batch: only now may storage forget it
    await this.opts.log.trim(position);
    metrics?.batchSize.observe(events.length);
    this.stats.exported += events.length;
    this.stats.batches++;
    await this.reportLag();
  }

  private async reportLag(): Promise<void> {
    const { total, fullest } = await this.opts.log.lag();
    this.opts.metrics?.lag.set({ scope: 'total' }, total);
    this.opts.metrics?.lag.set({ scope: 'fullest' }, fullest);
    const near = fullest >= NEAR_FULL * this.opts.maxLag;
    if (near && !this.warnedNearFull) {
      this.opts.logger.warn({ fullest, total, maxLag: this.opts.maxLag }, 'interaction export lags: a stream is near EXPORT_MAX_LAG, after which writes are refused');
    } else if (!near && this.warnedNearFull) {
      this.opts.logger.info({ fullest, total }, 'interaction export caught up');
    }
    this.warnedNearFull = near;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        if (this.timer) this.opts.clock.clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.timer = this.opts.clock.setTimeout(() => this.wake?.(), ms);
    });
  }
}
