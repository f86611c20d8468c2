/**
 * The exporter: one consumer of the behaviour log's export group (storage/interactions.ts
 * `deliver`/`ack`; on Redis a stream consumer group read with XREADGROUP). It gathers
 * deliveries into batches by size and time, writes each batch to every sink, and
 * acknowledges it (which trims it from storage) only once all of them accepted it.
 * At-least-once delivery (a crash or a failing sink means the batch is written again); the
 * sinks deduplicate on the event id, so rows are exactly once.
 *
 * Several exporters (in-process in each server, or `tremolo export` processes) share the
 * streams: the group hands each event to one of them. A batch a dead exporter left
 * unacknowledged is taken over by another once it has been idle for `claimIdleMs`
 * (storage/redis/lua/interaction-claim.lua; never by itself: what it holds is in its batch or on
 * its way); nothing is trimmed before it is acknowledged, so nothing is lost.
 *
 * Up to `pipelines` batches are in flight at once (written and acknowledged concurrently),
 * so one batch's INSERT round trip does not stall the reading of the next.
 *
 * While a sink fails, its batch is retried (backoff doubling from 100 ms to retryMaxMs) and
 * events wait in storage, bounded by EXPORT_MAX_LAG per stream (writers are then refused
 * with E_EXPORT_BACKLOG: nothing acknowledged is dropped); the lag is a metric, and a warning
 * is logged from 80 % of the bound.
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import type { ExportMetrics } from '../metrics.ts';
import type { InteractionEvent } from '../protocol/interactions.ts';
import type { InteractionLog } from '../storage/interactions.ts';
import type { InteractionSink } from './sink.ts';

export interface ExporterOptions {
  log: InteractionLog;
  sinks: readonly InteractionSink[];
  clock: Clock;
  /** This exporter's name in the export group: unique per process (a name shared by two would mix their pending batches). */
  consumer: string;
  /** Most events per batch. */
  batchMax: number;
  /** Longest a batch waits to fill up once its first event is seen. */
  batchWaitMs: number;
  /** Longest pause between retries while a sink fails (doubling from 100 ms). */
  retryMaxMs: number;
  /** EXPORT_MAX_LAG: the per-stream bound, for the near-full warning. */
  maxLag: number;
  /** A batch another consumer left unacknowledged this long is taken over (its exporter is presumed dead). */
  claimIdleMs: number;
  /** Batches written and acknowledged at once. Default 1. */
  pipelines?: number;
  metrics?: ExportMetrics;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** How often an idle exporter looks for new events. Default: batchWaitMs / 4, at most 250 ms. */
  pollMs?: number;
}

export interface ExporterStats {
  /** Events acknowledged after every sink accepted them. */
  exported: number;
  batches: number;
  failures: number;
}

interface Batch {
  events: InteractionEvent[];
  receipts: string[];
}

const NEAR_FULL = 0.8;

export class Exporter {
  readonly stats: ExporterStats = { exported: 0, batches: 0, failures: 0 };
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly wakers = new Set<() => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private warnedNearFull = false;
  private lastClaim = Number.NEGATIVE_INFINITY;
  private readonly pipelines: number;

  constructor(private readonly opts: ExporterOptions) {
    if (!Number.isInteger(opts.batchMax) || opts.batchMax < 1) throw new RangeError('batchMax must be an integer >= 1');
    if (opts.sinks.length === 0) throw new RangeError('an exporter needs at least one sink');
    if (typeof opts.consumer !== 'string' || opts.consumer.length === 0) throw new RangeError('consumer must be a non-empty name');
    if (!Number.isFinite(opts.claimIdleMs) || opts.claimIdleMs < 0) throw new RangeError('claimIdleMs must be a number >= 0');
    this.pipelines = opts.pipelines ?? 1;
    if (!Number.isInteger(this.pipelines) || this.pipelines < 1) throw new RangeError('pipelines must be an integer >= 1');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops: the batch being gathered and those in flight are written and acknowledged, or,
   * while a sink fails, left pending for another exporter to take over.
   */
  async stop(): Promise<void> {
    this.running = false;
    for (const wake of [...this.wakers]) wake();
    await this.loop;
  }

  /** Delivers everything pending now, including other consumers' idle batches, in batches (tests and graceful shutdown). */
  async drain(): Promise<void> {
    for (;;) {
      const d = await this.opts.log.deliver(this.opts.consumer, this.opts.batchMax, { now: this.opts.clock.now(), claimIdleMs: this.opts.claimIdleMs });
      if (d.events.length === 0) return;
      await this.write({ events: d.events, receipts: [d.receipt] });
    }
  }

  private async run(): Promise<void> {
    const { clock, batchMax, batchWaitMs, claimIdleMs, log, consumer } = this.opts;
    const poll = this.opts.pollMs ?? Math.min(250, Math.max(1, Math.floor(batchWaitMs / 4)));
    let batch: Batch = { events: [], receipts: [] };
    let firstSeen: number | undefined;
    let backoff = 0;
    while (this.running) {
      try {
        if (this.inFlight.size >= this.pipelines) {
          await Promise.race(this.inFlight);
          continue;
        }
        const now = clock.now();
        // looking for dead consumers' batches costs a scan of the pending lists: now and then is enough
        const claim = now - this.lastClaim >= Math.max(1, claimIdleMs / 2);
        const room = batchMax - batch.events.length;
        const d = await log.deliver(consumer, room, claim ? { now, claimIdleMs } : { now });
        if (claim) this.lastClaim = now;
        backoff = 0;
        if (d.events.length > 0) {
          for (const e of d.events) batch.events.push(e);
          batch.receipts.push(d.receipt);
          firstSeen ??= now;
        }
        const waited = firstSeen === undefined ? 0 : clock.now() - firstSeen;
        if (batch.events.length > 0 && (batch.events.length >= batchMax || waited >= batchWaitMs)) {
          this.launch(batch);
          batch = { events: [], receipts: [] };
          firstSeen = undefined;
          continue;
        }
        if (d.events.length < room) {
          // the streams are empty for now: wait for more (or for the batch's time to be up)
          if (batch.events.length === 0 && this.inFlight.size === 0) await this.reportLag();
          await this.sleep(batch.events.length === 0 ? poll : Math.max(1, Math.min(poll, batchWaitMs - waited)));
        }
      } catch (err) {
        backoff = Math.min(this.opts.retryMaxMs, backoff === 0 ? 100 : backoff * 2);
        this.opts.logger.warn({ err, retryInMs: backoff }, 'reading the interaction streams failed; retrying');
        await this.sleep(backoff);
      }
    }
    // stopping: what was gathered goes out too (or stays pending for another exporter)
    if (batch.events.length > 0) this.launch(batch);
    await Promise.all(this.inFlight);
  }

  /** Writes and acknowledges a batch in the background, retrying while a sink fails (until stopped). */
  private launch(batch: Batch): void {
    const done = (async () => {
      let backoff = 0;
      for (;;) {
        try {
          await this.write(batch);
          return;
        } catch (err) {
          if (!this.running) {
            this.opts.logger.warn({ err, events: batch.events.length }, 'stopping with a batch not exported: it stays pending for another exporter to take over');
            return;
          }
          backoff = Math.min(this.opts.retryMaxMs, backoff === 0 ? 100 : backoff * 2);
          this.opts.logger.warn({ err, retryInMs: backoff }, 'interaction export failed; the batch waits in storage and is retried');
          await this.reportLag().catch(() => {});
          await this.sleep(backoff);
        }
      }
    })();
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  /** One batch to every sink, then acknowledged (and so trimmed). Throws when a sink or storage fails. */
  private async write(batch: Batch): Promise<void> {
    const { sinks, metrics, clock, log } = this.opts;
    const { events } = batch;
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
    await Promise.all(batch.receipts.map((r) => log.ack(r)));
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

  /** Waits `ms` on the injected clock; stop() cuts it short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.opts.clock.clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      this.wakers.add(wake);
      const timer: TimerHandle = this.opts.clock.setTimeout(wake, ms);
    });
  }
}
