/**
 * Creator analytics: a video's behaviour per hour or day, for its owner. Answered from the
 * behaviour log in ClickHouse when one is configured; otherwise from the counters storage
 * already holds (totals only, `source: "counters"`).
 */
import type { Clock } from '../domain/clock.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { AnalyticsFigures, VideoAnalytics, AnalyticsQuery } from '../protocol/model.ts';
import type { AnalyticsBucket, Bucket } from '../storage/clickhouse/behaviour-log.ts';

/** What answers analytics from the behaviour log (storage/clickhouse/behaviour-log.ts). */
export interface AnalyticsSource {
  videoAnalytics(videoId: string, ownerId: string, from: number, to: number, bucket: Bucket): Promise<AnalyticsBucket[]>;
}

const BUCKET_MS: Record<Bucket, number> = { hour: 3_600_000, day: 86_400_000 };
/** Buckets one request may span. */
export const ANALYTICS_MAX_BUCKETS = 1000;
const DEFAULT_SPAN_MS = 7 * 86_400_000;

/** The window and bucket a query asks for, checked: [from, to) in ms. */
export function analyticsWindow(query: AnalyticsQuery, clock: Clock): { from: number; to: number; bucket: Bucket } {
  const bucket = query.bucket ?? 'day';
  if (bucket !== 'hour' && bucket !== 'day') throw invalid('bucket', 'bucket must be hour or day');
  const to = query.to === undefined ? clock.now() : parseTime(query.to, 'to');
  const from = query.from === undefined ? to - DEFAULT_SPAN_MS : parseTime(query.from, 'from');
  if (from >= to) throw invalid('from', 'from must be before to');
  if ((to - from) / BUCKET_MS[bucket] > ANALYTICS_MAX_BUCKETS) throw invalid('from', `at most ${ANALYTICS_MAX_BUCKETS} ${bucket}s per request`);
  return { from, to, bucket };
}

/** The totals over every bucket (averages weighted by their bucket's viewers). */
export function totalsOf(buckets: readonly AnalyticsBucket[]): AnalyticsFigures {
  const sum = (f: (b: AnalyticsBucket) => number) => buckets.reduce((a, b) => a + f(b), 0);
  const viewers = sum((b) => b.uniqueViewers);
  const views = sum((b) => b.views);
  const likes = sum((b) => b.likes);
  const weighted = (f: (b: AnalyticsBucket) => number) => (viewers > 0 ? sum((b) => f(b) * b.uniqueViewers) / viewers : 0);
  return {
    views,
    uniqueViewers: viewers,
    avgWatchMs: Math.round(weighted((b) => b.avgWatchMs)),
    completionRate: weighted((b) => b.completionRate),
    likes,
    likeRate: views > 0 ? likes / views : 0,
    comments: sum((b) => b.comments),
    followersGained: sum((b) => b.followersGained),
  };
}

export function bucketIso(b: AnalyticsBucket): VideoAnalytics['buckets'][number] {
  return { ...b, start: new Date(b.start).toISOString() };
}

function parseTime(value: string, field: string): number {
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw invalid(field, `${field} must be an ISO 8601 time or ms since the epoch`);
  return ms;
}

function invalid(field: string, message: string): TremoloError {
  return new TremoloError('E_VALIDATION', message, { details: { field } });
}
