/**
 * What clients report about watching (progress, impressions), checked and recorded in the
 * behaviour log, and the log's reading side for backend consumers (gRPC SubscribeInteractions).
 *
 * Recorded reports are also handed, after they are durable, to every listener registered with
 * `onRecorded` (e.g. the For You feed's online interest updates), in this process only; a
 * consumer that must see every process's events reads the log instead (`read`).
 */
import type { Clock } from '../domain/clock.ts';
import { isTsid, type TsidGenerator } from '../domain/ids.ts';
import { TremoloError } from '../protocol/errors.ts';
import {
  FEED_KINDS,
  INTERACTION_SCHEMA_VERSION,
  PROGRESS_MAX_MS,
  REPORTED_EVENTS_MAX,
  type FeedKind,
  type InteractionEvent,
  type InteractionOf,
  type InteractionPage,
} from '../protocol/interactions.ts';
import type { RateLimitStore } from '../storage/rate-limits.ts';
import type { Store } from '../storage/store.ts';

export interface ReportLimits {
  /** One progress report per (viewer, video) per this interval. */
  progressIntervalMs: number;
  /** Client-dated events older than this are refused. */
  maxAgeMs: number;
  /** Client-dated events further ahead of the server clock than this are refused. */
  maxSkewMs: number;
}

/** Who reports: a signed-in user, or an anonymous session. */
export type Reporter = { userId: string } | { sessionId: string };

export type ReportedInteraction = InteractionOf<'watch'> | InteractionOf<'impression'>;
export type RecordedListener = (events: readonly ReportedInteraction[]) => void;

/** (viewer, video) pairs remembered for the progress interval; beyond it the oldest are forgotten. */
const PROGRESS_SLOTS_MAX = 100_000;
const SESSION_ID = /^[A-Za-z0-9_:-]{8,64}$/;

export interface InteractionServiceDeps {
  store: Store;
  clock: Clock;
  ids: TsidGenerator;
  limits: ReportLimits;
  onError: (err: unknown, context: string) => void;
  /**
   * Progress windows shared by every process (Redis), so a client spreading its reports over
   * several servers is held to the same interval. Without it, each process limits on its own.
   */
  sharedWindows?: Pick<RateLimitStore, 'takeWindows' | 'releaseWindows'>;
}

/** The shared window limiter's name (its Redis keys: rl:progress:<viewer>|<video>). */
const PROGRESS_WINDOWS = 'progress';

export class InteractionService {
  /** `${viewer}|${videoId}` -> when its last progress report was accepted, oldest first. */
  private readonly lastProgress = new Map<string, number>();
  private readonly listeners = new Set<RecordedListener>();

  constructor(private readonly deps: InteractionServiceDeps) {}

  /**
   * Events of the log after `position` (null: the oldest kept), at most `limit`, with the
   * position to read on from. Positions are opaque and survive restarts; events the exporter
   * has trimmed are gone (a consumer that must see every event reads before they are exported,
   * or from a sink).
   */
  async read(position: string | null, limit: number): Promise<InteractionPage> {
    if (position !== null && (typeof position !== 'string' || position.length > 1_000_000)) throw new TremoloError('E_BAD_CURSOR');
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new TremoloError('E_VALIDATION', 'limit must be an integer from 1 to 10000', { details: { field: 'limit' } });
    }
    return this.deps.store.interactions.read(position, limit);
  }

  /** Registers a listener for recorded watch and impression events; returns its removal. */
  onRecorded(listener: RecordedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One watch-progress report (`video:progress`): checked, rate-limited per viewer and video, recorded. */
  async progress(reporter: Reporter, report: unknown): Promise<void> {
    await this.report(reporter, [{ ...(isObject(report) ? report : { invalid: true }), type: 'watch' }]);
  }

  /**
   * A batch of reports (`POST /v1/events`): every item is checked before any is recorded, so a
   * batch is refused whole (E_VALIDATION, E_FORBIDDEN for another user's event, E_EVENT_TIME,
   * E_RATE_LIMITED, E_PAYLOAD_TOO_LARGE) or recorded whole. Resolves with how many were recorded.
   */
  async report(reporter: Reporter, items: unknown): Promise<number> {
    checkReporter(reporter);
    if (!Array.isArray(items)) throw invalid('events', 'events must be a list');
    if (items.length > REPORTED_EVENTS_MAX) throw new TremoloError('E_PAYLOAD_TOO_LARGE', `At most ${REPORTED_EVENTS_MAX} events per request`);
    const now = this.deps.clock.now();
    const events = items.map((item, i) => this.toEvent(reporter, item, i, now));
    // the rate limit is checked for the whole batch before it is taken for any of it
    const slots = events.filter((e) => e.type === 'watch').map((e) => `${'userId' in reporter ? reporter.userId : `~${reporter.sessionId}`}|${e.videoId}`);
    const interval = this.deps.limits.progressIntervalMs;
    for (const [i, slot] of slots.entries()) {
      const last = this.lastProgress.get(slot);
      if ((last !== undefined && now - last < interval) || slots.indexOf(slot) !== i) {
        throw progressTooSoon(interval);
      }
    }
    if (events.length === 0) return 0;
    const shared = this.deps.sharedWindows;
    const useShared = shared !== undefined && slots.length > 0 && interval > 0;
    if (useShared && !(await shared.takeWindows(PROGRESS_WINDOWS, slots, interval))) {
      throw progressTooSoon(interval);
    }
    try {
      await this.deps.store.interactions.record(events);
    } catch (err) {
      // nothing was recorded: the windows taken for it are not used up
      if (useShared) await shared.releaseWindows(PROGRESS_WINDOWS, slots).catch((e: unknown) => this.deps.onError(e, 'giving back progress windows'));
      throw err;
    }
    for (const slot of slots) this.remember(slot, now);
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch (err) {
        this.deps.onError(err, 'an interaction listener failed');
      }
    }
    return events.length;
  }

  private remember(slot: string, now: number): void {
    this.lastProgress.delete(slot);
    this.lastProgress.set(slot, now);
    // oldest first: drop what no longer limits anything, then anything beyond the bound
    for (const [key, at] of this.lastProgress) {
      if (now - at < this.deps.limits.progressIntervalMs && this.lastProgress.size <= PROGRESS_SLOTS_MAX) break;
      this.lastProgress.delete(key);
    }
  }

  private toEvent(reporter: Reporter, item: unknown, i: number, now: number): ReportedInteraction {
    const field = (name: string) => `events[${i}].${name}`;
    if (!isObject(item)) throw invalid(`events[${i}]`, 'each event must be an object');
    const allowed = item.type === 'watch' ? WATCH_FIELDS : item.type === 'impression' ? IMPRESSION_FIELDS : undefined;
    if (!allowed) throw invalid(field('type'), 'type must be watch or impression');
    for (const key of Object.keys(item)) if (!allowed.has(key)) throw invalid(field(key), `${key} is not a field of a ${item.type} event`);
    if (item.userId !== undefined && (!('userId' in reporter) || item.userId !== reporter.userId)) {
      throw new TremoloError('E_FORBIDDEN', 'An event may only be reported by its own user', { details: { field: field('userId') } });
    }
    let at = now;
    if (item.at !== undefined) {
      if (!Number.isSafeInteger(item.at)) throw invalid(field('at'), 'at must be a time in ms since the epoch');
      at = item.at as number;
      if (at > now + this.deps.limits.maxSkewMs || at < now - this.deps.limits.maxAgeMs) {
        throw new TremoloError('E_EVENT_TIME', undefined, { details: { field: field('at') } });
      }
    }
    if (!isTsid(item.videoId)) throw invalid(field('videoId'), 'videoId must be a 13-character id');
    const base = { v: INTERACTION_SCHEMA_VERSION, id: this.deps.ids.next(), at, ...reporter, videoId: item.videoId };
    if (item.type === 'impression') {
      if (typeof item.feed !== 'string' || !(FEED_KINDS as readonly string[]).includes(item.feed)) throw invalid(field('feed'), `feed must be one of ${FEED_KINDS.join(', ')}`);
      const position = int(item.position, 0, 10_000, field('position'));
      return { ...base, type: 'impression', feed: item.feed as FeedKind, position };
    }
    const durationMs = int(item.durationMs, 1, PROGRESS_MAX_MS, field('durationMs'));
    const positionMs = int(item.positionMs, 0, durationMs, field('positionMs'));
    const watchedMs = int(item.watchedMs, 0, PROGRESS_MAX_MS, field('watchedMs'));
    if (typeof item.completed !== 'boolean') throw invalid(field('completed'), 'completed must be true or false');
    return { ...base, type: 'watch', watchedMs, positionMs, durationMs, completed: item.completed };
  }
}

const WATCH_FIELDS = new Set(['type', 'at', 'userId', 'videoId', 'watchedMs', 'positionMs', 'durationMs', 'completed']);
const IMPRESSION_FIELDS = new Set(['type', 'at', 'userId', 'videoId', 'feed', 'position']);

function progressTooSoon(intervalMs: number): TremoloError {
  return new TremoloError('E_RATE_LIMITED', 'Report watch progress of a video at most once per interval', { retryAfter: Math.max(1, Math.ceil(intervalMs / 1000)) });
}

function checkReporter(reporter: Reporter): void {
  if ('userId' in reporter) {
    if (!isTsid(reporter.userId)) throw invalid('userId', 'userId must be a 13-character id');
  } else if (typeof reporter.sessionId !== 'string' || !SESSION_ID.test(reporter.sessionId)) {
    throw invalid('sessionId', 'sessionId must be 8 to 64 letters, digits, _, - or :');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function int(value: unknown, min: number, max: number, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw invalid(field, `${field.split('.').at(-1)} must be an integer from ${min} to ${max}`);
  }
  return value as number;
}

function invalid(field: string, message: string): TremoloError {
  return new TremoloError('E_VALIDATION', message, { details: { field } });
}

export type { InteractionEvent };
