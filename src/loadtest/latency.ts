/**
 * Latency recording with HDR histograms (hdr-histogram-js): a shard records into an
 * interval histogram and hands it over, compressed, once a second; the coordinator adds
 * intervals into a run total and a per-second window, so percentiles over several
 * processes are exact merges, never averages of percentiles.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

/** Values are microseconds; anything above a minute is clamped (and still counted). */
const HIGHEST_US = 60_000_000;

export const LATENCY_METRICS = ['connect', 'watch', 'like', 'comment', 'commentLike', 'likeToCounter', 'commentDelivery', 'http', 'loadLag'] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];

/** What each metric measures, for the report. */
export const LATENCY_DOC: Record<LatencyMetric, string> = {
  connect: 'socket handshake: connect() to connected',
  watch: 'video:watch ack round trip (snapshot)',
  like: 'video:like / video:unlike ack round trip',
  comment: 'comment:add ack round trip',
  commentLike: 'comment:like / comment:unlike ack round trip',
  likeToCounter: "like ack -> first counters event with that version at another user's socket",
  commentDelivery: 'comment ack -> comment event at each other watching socket',
  http: 'REST request round trip',
  loadLag:
    "the load generator's own event-loop delay (how late a 100 ms timer fires): every latency above is measured on that loop, so a high figure here says they include the generator's own queueing",
};

/** Upper bounds (ms) of the report's histogram chart: 1-2-5 per decade from 0.1 ms to 60 s. */
export const BUCKET_BOUNDS_MS: readonly number[] = [0.1, 1, 10, 100, 1000, 10_000].flatMap((d) => [d, 2 * d, 5 * d]).concat([60_000]);

function bucketOf(ms: number): number {
  const i = BUCKET_BOUNDS_MS.findIndex((le) => ms <= le);
  return i === -1 ? BUCKET_BOUNDS_MS.length - 1 : i;
}

/** One interval of one metric, as a shard hands it over. */
export interface LatencyInterval {
  /** The HDR histogram, compressed base64. */
  h: string;
  /** Counts per BUCKET_BOUNDS_MS entry. */
  b: number[];
}

function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

/** One shard's recorder for one metric. */
export class LatencyRecorder {
  private interval = newHistogram();
  private buckets = new Array<number>(BUCKET_BOUNDS_MS.length).fill(0);

  /** Records a latency in milliseconds (fractions kept to the microsecond). */
  record(ms: number): void {
    this.interval.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
    const i = bucketOf(ms);
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
  }

  /** The interval so far, and a fresh one; undefined when nothing was recorded. */
  drain(): LatencyInterval | undefined {
    if (this.interval.totalCount === 0) return undefined;
    const out = { h: encodeIntoCompressedBase64(this.interval), b: this.buckets };
    this.interval = newHistogram();
    this.buckets = new Array<number>(BUCKET_BOUNDS_MS.length).fill(0);
    return out;
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LatencyPoint {
  /** Seconds since the run started. */
  t: number;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Histogram buckets for the report's chart: upper bound (ms) and count. */
export interface LatencyBucket {
  le: number;
  count: number;
}

/** The coordinator's view of one metric: run total plus a per-second timeline, and the steady state once it began. */
export class LatencyAggregate {
  private readonly total = newHistogram();
  private window = newHistogram();
  /** From `startSteady()` on (after the connection ramp): what the steady state alone measured. */
  private steadyState: Histogram | undefined;
  private readonly bucketCounts = new Array<number>(BUCKET_BOUNDS_MS.length).fill(0);
  readonly timeline: LatencyPoint[] = [];

  add(interval: LatencyInterval): void {
    const h = decodeFromCompressedBase64(interval.h);
    this.total.add(h);
    this.window.add(h);
    this.steadyState?.add(h);
    interval.b.forEach((n, i) => (this.bucketCounts[i] = (this.bucketCounts[i] ?? 0) + n));
  }

  /** Closes the current window as the point at `t` seconds (skipped when empty). */
  closeWindow(t: number): void {
    if (this.window.totalCount > 0) this.timeline.push({ t, ...pick(this.window) });
    this.window = newHistogram();
  }

  get count(): number {
    return this.total.totalCount;
  }

  summary(): LatencySummary {
    return summarize(this.total);
  }

  /** Intervals added from now on also count towards the steady-state summary. */
  startSteady(): void {
    this.steadyState ??= newHistogram();
  }

  /** The steady state's summary (empty when it never began). */
  steady(): LatencySummary {
    return summarize(this.steadyState ?? newHistogram());
  }

  /** Counts per chart bucket, up to the highest non-empty one. */
  buckets(): LatencyBucket[] {
    const last = this.bucketCounts.findLastIndex((n) => n > 0);
    return this.bucketCounts.slice(0, last + 1).map((count, i) => ({ le: BUCKET_BOUNDS_MS[i] ?? 0, count }));
  }
}

function summarize(h: Histogram): LatencySummary {
  const { count, p50, p99, max } = pick(h);
  return { count, p50, p90: ms(h.getValueAtPercentile(90)), p99, max, mean: count ? round(h.mean / 1000) : 0 };
}

function pick(h: Histogram): { count: number; p50: number; p99: number; max: number } {
  return { count: h.totalCount, p50: ms(h.getValueAtPercentile(50)), p99: ms(h.getValueAtPercentile(99)), max: ms(h.maxValue) };
}

const ms = (us: number) => round(us / 1000);
const round = (v: number) => Math.round(v * 1000) / 1000;
