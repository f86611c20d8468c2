/**
 * Feeds: hybrid fan-out on write, merge on read.
 *
 * - Publishing: an author with at most `pushMaxFollowers` followers has the new video
 *   pushed into every follower's inbox, FANOUT_BATCH inboxes per storage call. The work goes
 *   through the durable fan-out queue in storage (storage/fanout.ts), never the request path:
 *   any process claims an entry, pushes page after page of followers, and saves after each
 *   page the follower cursor reached (which renews its lease). A process that dies mid
 *   fan-out leaves the entry with its cursor; once the lease lapses another process takes it
 *   over and goes on from that page. Inbox writes are idempotent (an inbox is a set keyed by
 *   video id), so a page pushed twice leaves one entry. Every follower also gets `feed:new`,
 *   after its page's inbox write (a page redone after a takeover may send it again).
 * - Reading: the inbox merged with the outboxes of followed authors above the threshold
 *   (pulled at read time), newest first by TSID. The cursor is the last video id shown,
 *   so a page boundary never moves: no gaps and no duplicates across pages, whichever
 *   way a post arrived (a post present both ways is shown once).
 * - Unfollowed authors and deleted videos are filtered at read time.
 * - The queue is bounded (`maxQueued`, all processes together): a full queue refuses the
 *   post (E_BUSY, retry shortly) rather than dropping its fan-out; `admit()` checks before
 *   the video is written, and the enqueue checks again atomically.
 * - Traced: the entry keeps the post's `traceparent`, and each claim of it is a `feed.fanout`
 *   span continuing that trace in whichever process holds it, its storage calls under it.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../domain/clock.ts';
import { pushesToInboxes } from '../domain/feed-policy.ts';
import type { FanoutMetrics } from '../metrics.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Page, PageRequest, VideoRecord } from '../protocol/model.ts';
import { decodeCursor, encodeCursor } from '../storage/cursor.ts';
import type { FanoutClaim, FanoutLag } from '../storage/fanout.ts';
import type { Store } from '../storage/store.ts';
import { noopTracing, type SpanHandle, type TraceContext, type Tracing } from '../telemetry/tracing.ts';
import type { EventSink } from './events.ts';

export interface FeedOptions {
  pushMaxFollowers: number;
  inboxMax: number;
  fanoutBatch: number;
  /** Posts whose fan-out may wait at once (all processes); above it new posts are refused with E_BUSY. */
  maxQueued: number;
  /** A holder silent this long (no page reported) loses its fan-out to another process. Default 30 s. */
  leaseMs?: number;
  /** How often to look for work queued by others or left by a dead process. Default 1 s. */
  pollMs?: number;
}

export const DEFAULT_FANOUT_LEASE_MS = 30_000;
export const DEFAULT_FANOUT_POLL_MS = 1000;
/** Share of `maxQueued` from which a warning is logged (at most once per poll). */
const NEAR_BOUND = 0.8;

export interface FeedDeps {
  store: Store;
  sink: EventSink;
  clock: Clock;
  options: FeedOptions;
  /** Follower count through the profile cache (a feed read asks for every followed author). */
  followerCount: (userId: string) => Promise<number>;
  /** Which of these videos still exist (through the video cache). */
  existing: (videoIds: string[]) => Promise<boolean[]>;
  onError: (err: unknown, context: string) => void;
  /** A warning for operators (the queue near its bound). */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
  /** Told after posts were pushed into these users' inboxes (their cached feed pages are stale). */
  onInboxesChanged?: (userIds: string[]) => void;
  metrics?: FanoutMetrics;
  /** This process's name in the queue's consumer group. Default: a fresh random one. */
  consumer?: string;
  /** A `feed.fanout` span per claim. Default: off. */
  tracing?: Tracing;
}

export class FeedService {
  readonly consumer: string;
  private timer: TimerHandle | undefined;
  /** The drain loop in progress, if any (one at a time per process). */
  private draining: Promise<void> | undefined;
  /** Work arrived while draining: go round once more. */
  private again = false;
  private stopping = false;
  private lastWarnAt = -Infinity;

  private readonly tracing: Tracing;

  constructor(private readonly deps: FeedDeps) {
    this.consumer = deps.consumer ?? `c-${randomUUID()}`;
    this.tracing = deps.tracing ?? noopTracing;
  }

  private get leaseMs(): number {
    return this.deps.options.leaseMs ?? DEFAULT_FANOUT_LEASE_MS;
  }

  /** Starts polling the queue (work of other processes, and of dead ones once their lease lapses). */
  start(): void {
    if (this.timer || this.stopping) return;
    this.timer = this.deps.clock.setInterval(() => void this.poll(), this.deps.options.pollMs ?? DEFAULT_FANOUT_POLL_MS);
    this.timer.unref?.();
    this.kick();
  }

  /**
   * Stops claiming. The page in flight finishes; its fan-out is given back with the cursor
   * reached, so any process (this one after a restart included) goes on from there at once.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.draining;
  }

  /** E_BUSY when the queue is full: checked before a post is written, so a refused post leaves nothing. */
  async admit(): Promise<void> {
    const lag = await this.deps.store.fanout.lag();
    if (lag.waiting >= this.deps.options.maxQueued) throw busy();
  }

  /**
   * Queues the fan-out of a written video (E_BUSY when the queue filled up meanwhile, or a
   * storage error: the caller refuses the post) and starts it here at once. `trace`: the
   * post's request, whose trace the fan-out continues.
   */
  async publish(video: VideoRecord, trace?: TraceContext): Promise<void> {
    const traceparent = trace && this.tracing.inject(trace);
    const tracestate = traceparent && this.tracing.tracestate(trace);
    const task = { videoId: video.id, authorId: video.ownerId, at: this.deps.clock.now(), ...(traceparent ? { traceparent } : {}), ...(tracestate ? { tracestate } : {}) };
    const { waiting } = await this.deps.store.fanout.enqueue(task, this.deps.options.maxQueued);
    this.warnIfNear(waiting);
    this.kick();
  }

  /** Entries waiting or running in the queue (all processes), and the oldest one's age. */
  lag(): Promise<FanoutLag> {
    return this.deps.store.fanout.lag();
  }

  /**
   * Resolves when the queue is empty (tests, benchmarks): drains what this process can take
   * and waits for what other processes hold.
   */
  async idle(): Promise<void> {
    for (;;) {
      await this.drain();
      if ((await this.deps.store.fanout.lag()).waiting === 0 || this.stopping) return;
      // held by another process: it reports page by page, or its lease lapses and we take it
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private async poll(): Promise<void> {
    try {
      const lag = await this.deps.store.fanout.lag();
      const m = this.deps.metrics;
      if (m) {
        m.waiting.set(lag.waiting);
        m.oldestAgeSeconds.set(lag.oldestAt === null ? 0 : Math.max(0, (this.deps.clock.now() - lag.oldestAt) / 1000));
      }
      this.warnIfNear(lag.waiting, lag);
      if (lag.waiting > 0) this.kick();
    } catch (err) {
      // an outage is reported by the storage breaker already: not once a second from here too
      if (!(err instanceof TremoloError && err.code === 'E_STORAGE_UNAVAILABLE')) this.deps.onError(err, 'fan-out queue: reading its lag');
    }
  }

  private warnIfNear(waiting: number, lag?: FanoutLag): void {
    const max = this.deps.options.maxQueued;
    const now = this.deps.clock.now();
    if (waiting < max * NEAR_BOUND || now - this.lastWarnAt < (this.deps.options.pollMs ?? DEFAULT_FANOUT_POLL_MS)) return;
    this.lastWarnAt = now;
    this.deps.onWarning?.('fan-out queue near its bound (FANOUT_QUEUE_MAX): new posts will be refused with E_BUSY when it is full', {
      waiting,
      max,
      ...(lag?.oldestAt != null ? { oldestAgeMs: now - lag.oldestAt } : {}),
    });
  }

  /** Starts a drain unless one runs (then it goes round once more). */
  private kick(): void {
    void this.drain();
  }

  private drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.again = false;
          while (!this.stopping) {
            const [claim] = await this.deps.store.fanout.claim(this.consumer, { limit: 1, leaseMs: this.leaseMs, now: this.deps.clock.now() });
            if (!claim) break;
            await this.fanOut(claim).catch((err: unknown) => this.deps.onError(err, `fan-out of video ${claim.task.videoId} (left for a retry after FANOUT_LEASE)`));
          }
        } while (this.again && !this.stopping);
      } catch (err) {
        this.deps.onError(err, 'fan-out queue: claiming');
      } finally {
        this.draining = undefined;
      }
    };
    this.draining = run();
    return this.draining;
  }

  private async fanOut(claim: FanoutClaim): Promise<void> {
    if (claim.resumed) this.deps.metrics?.resumed.inc();
    if (!this.tracing.enabled) {
      await this.fanOutPages(claim);
      return;
    }
    const span = this.fanOutSpan(claim);
    const progress = { followers: 0, pages: 0 };
    let outcome = 'failed';
    try {
      outcome = await this.fanOutPages(claim, span, progress);
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.set({ 'tremolo.fanout.outcome': outcome, 'tremolo.fanout.followers': progress.followers, 'tremolo.fanout.pages': progress.pages });
      span.end();
    }
  }

  /**
   * A claim's span: continuing the post's trace (parent and link, as a job attempt's), or a
   * trace of its own for an entry queued untraced.
   */
  private fanOutSpan(claim: FanoutClaim): SpanHandle {
    const post = this.tracing.extract(claim.task.traceparent, claim.task.tracestate);
    return this.tracing.start('feed.fanout', {
      kind: 'consumer',
      parent: post ?? 'root',
      ...(post ? { links: [post] } : {}),
      attributes: { 'tremolo.video.id': claim.task.videoId, 'tremolo.fanout.resumed': claim.resumed },
    });
  }

  /**
   * Pushes the claim's pages, from its cursor on. Each storage call starts in `span` (the
   * active context is a synchronous scope: telemetry/tracing.ts), so its span is a child.
   */
  private async fanOutPages(claim: FanoutClaim, span?: SpanHandle, progress = { followers: 0, pages: 0 }): Promise<'done' | 'released' | 'taken_over'> {
    const { store, sink, options, clock } = this.deps;
    const inSpan = <T>(call: () => T): T => this.tracing.run(span?.context, call);
    const { videoId, authorId } = claim.task;
    const push = pushesToInboxes(await inSpan(() => store.users.followerCount(authorId)), options.pushMaxFollowers);
    const entry = { videoId, authorId };
    let cursor = claim.cursor;
    do {
      if (this.stopping) {
        await inSpan(() => store.fanout.release(claim.id, this.consumer, { leaseMs: this.leaseMs, now: clock.now() }));
        return 'released';
      }
      const page = await inSpan(() => store.users.followers(authorId, { cursor, limit: options.fanoutBatch }));
      if (page.items.length) {
        if (push) await inSpan(() => store.feeds.pushToInboxes(page.items, entry, options.inboxMax));
        this.deps.onInboxesChanged?.(page.items);
        inSpan(() => sink.publish({ type: 'feed:new', userIds: page.items, videoId, authorId }));
        progress.followers += page.items.length;
      }
      progress.pages++;
      cursor = page.nextCursor;
      // the page is in the inboxes: record it, so a takeover goes on from the next one
      const reached = cursor;
      if (reached && !(await inSpan(() => store.fanout.progress(claim.id, this.consumer, reached, { now: clock.now() })))) return 'taken_over';
    } while (cursor);
    await inSpan(() => store.fanout.complete(claim.id));
    return 'done';
  }

  /** The following feed of `userId`: video ids, newest first. */
  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    const { store, options } = this.deps;
    const followed = await store.users.allFollowing(userId);
    const followedSet = new Set(followed);
    const counts = await Promise.all(followed.map((id) => this.deps.followerCount(id)));
    const pulled = followed.filter((_, i) => !pushesToInboxes(counts[i]!, options.pushMaxFollowers));

    const want = page.limit + 1;
    const chunk = Math.max(want, 20);
    const out: string[] = [];
    const seen = new Set<string>();
    let before = decodeCursor(page.cursor);
    while (out.length < want) {
      const [inbox, ...outboxes] = await Promise.all([
        store.feeds.inbox(userId, before, chunk),
        ...pulled.map((author) => store.feeds.outbox(author, before, chunk)),
      ]);
      const sources: { ids: string[]; authorOf: (i: number) => string }[] = [
        { ids: inbox!.map((e) => e.videoId), authorOf: (i) => inbox![i]!.authorId },
        ...outboxes.map((ids, k) => ({ ids: ids as string[], authorOf: () => pulled[k]! })),
      ];
      // Below the last id of a source that returned a full chunk, that source may hold more
      // items not fetched yet: only ids at or above the highest such frontier are final.
      let frontier = '';
      for (const s of sources) if (s.ids.length === chunk && s.ids[s.ids.length - 1]! > frontier) frontier = s.ids[s.ids.length - 1]!;
      const candidates = new Map<string, string>(); // videoId -> authorId
      for (const s of sources) {
        s.ids.forEach((id, i) => {
          if (id >= frontier && !seen.has(id)) candidates.set(id, s.authorOf(i));
        });
      }
      const ordered = [...candidates.keys()].sort().reverse();
      if (ordered.length === 0) break;
      const exists = await this.deps.existing(ordered);
      ordered.forEach((id, i) => {
        seen.add(id);
        if (exists[i] && followedSet.has(candidates.get(id)!) && out.length < want) out.push(id);
      });
      before = ordered[ordered.length - 1];
      if (frontier === '') break; // every source is exhausted
    }
    const items = out.slice(0, page.limit);
    return out.length > page.limit ? { items, nextCursor: encodeCursor(items[items.length - 1]!) } : { items };
  }
}

function busy(): TremoloError {
  return new TremoloError('E_BUSY', 'Too many new posts are waiting to reach followers; retry shortly', { retryAfter: 1 });
}
