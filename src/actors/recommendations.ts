/**
 * The For You feed: bounded candidate sources, one ranking expression (domain/ranking.ts),
 * diversity and a per-subject seen filter, and online learning from signals.
 *
 * - A subject is a signed-in user, or an anonymous session (`~s:<sessionId>`, a id the client
 *   keeps); each has its own interest weights, seen filter and co-engagement in storage.
 * - Candidates come from five sources, each bounded (`perSource`) and each given `sourceDeadlineMs`
 *   on the injected Clock: a source that has not answered by then adds nothing to this page, so
 *   one slow source never holds the page up.
 * - What the subject was shown, liked or viewed is in the seen filter and never comes back within
 *   its TTL; deleted videos and blocked authors are dropped before ranking.
 * - Learning runs behind the interactions (learner.ts): likes, unlikes, views and finished
 *   watches are queued (`offerSignal`) and learned in batches off their ack path; explicit
 *   signals (`recordSignal`) resolve once learned. The subject's next page reflects them.
 * - The cursor is the page number: the seen filter, not a position, keeps pages from repeating,
 *   and the page number seeds exploration so a page is reproducible for a given state.
 */
import type { Clock } from '../domain/clock.ts';
import type { EarlySkipOptions } from './early-skips.ts';
import { Learner } from './learner.ts';
import {
  composePage,
  reasonOf,
  scoreCandidate,
  seededRandom,
  seedOf,
  type CandidateSource,
  type RankInput,
  type Scored,
  type SignalKind,
} from '../domain/ranking.ts';
import type { Page } from '../protocol/model.ts';
import { decodeOffsetCursor, encodeCursor } from '../storage/cursor.ts';
import type { RecommendationLimits, Store, Subject, VideoState } from '../storage/store.ts';

export interface RecommendationOptions {
  limits: RecommendationLimits;
  /** Candidates each source may bring. */
  perSource: number;
  /** How long a page waits for each source. */
  sourceDeadlineMs: number;
  /** Strongest positive interests (tags, authors) read as sources. */
  interestSources: number;
  maxPerAuthor: number;
  maxPerTag: number;
  /** Share of each page kept for fresh videos, 0..1. */
  exploreShare: number;
  /** A video leaves the exploration pool after this many impressions. */
  freshMaxImpressions: number;
  /** Seeds exploration; the same seed and state give the same pages. */
  seed: number;
  /**
   * Skips derived from short watch reports (early-skips.ts; the window is 2 x the progress
   * interval). Default: DEFAULT_EARLY_SKIPS.
   */
  earlySkips?: Omit<EarlySkipOptions, 'windowMs'>;
  /** Signals that may wait for learning (learner.ts); past it they are shed. Default DEFAULT_LEARN_QUEUE_MAX. */
  learnQueueMax?: number;
}

export interface RecommendationDeps {
  store: Store;
  clock: Clock;
  options: RecommendationOptions;
  /** Video states through the read cache (null: deleted). */
  videos: (ids: readonly string[]) => Promise<(VideoState | null)[]>;
  /** Newest videos of the authors a user follows (the following feed's ids). */
  following: (userId: string, limit: number) => Promise<string[]>;
  /**
   * Which of `authorIds` the subject has blocked (same order). The one predicate the feed asks;
   * point it at the social Store's block list when it exists. Default: nobody is blocked.
   */
  blocked?: (subject: Subject, authorIds: readonly string[]) => Promise<boolean[]>;
  onError: (err: unknown, context: string) => void;
  /** Told of each signal shed because the learning queue was full (the Prometheus counter). */
  onSignalShed?: () => void;
  /** The rate-limited log of shed signals. */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
  /** Told when a source missed its deadline (metrics, tests). */
  onSourceLate?: (source: CandidateSource) => void;
}

/** One item of a For You page: a video id and why it is shown. */
export interface ForYouItem {
  videoId: string;
  reason: string;
}

/** Signals that may wait for learning when the setting does not say (FORYOU_LEARN_QUEUE_MAX). */
export const DEFAULT_LEARN_QUEUE_MAX = 100_000;

export class Recommendations {
  readonly #learner: Learner;

  constructor(private readonly deps: RecommendationDeps) {
    this.#learner = new Learner({
      store: deps.store,
      clock: deps.clock,
      limits: deps.options.limits,
      queueMax: deps.options.learnQueueMax ?? DEFAULT_LEARN_QUEUE_MAX,
      videos: deps.videos,
      onError: deps.onError,
      ...(deps.onSignalShed ? { onShed: deps.onSignalShed } : {}),
      ...(deps.onWarning ? { onWarning: deps.onWarning } : {}),
    });
  }

  /** The subject of a signed-in user or an anonymous session. */
  static subjectOf(viewer: { userId: string } | { sessionId: string }): Subject {
    return 'userId' in viewer ? viewer.userId : `~s:${viewer.sessionId}`;
  }

  /** One page of the subject's For You feed. `userId` is set for signed-in subjects (the following source). */
  async page(subject: Subject, userId: string | undefined, req: { cursor?: string; limit: number }): Promise<Page<ForYouItem>> {
    const { store, options, clock } = this.deps;
    const pageIndex = decodeOffsetCursor(req.cursor);
    const now = clock.now();
    const limits = options.limits;
    // read-your-writes: the subject's own queued signals are learned before its page is ranked
    const own = this.#learner.learned(subject);
    if (own) await own;
    const weights = await store.recommendations.interests(subject, now, limits);

    const interestIds = this.interestCandidates(weights);
    const sources: [CandidateSource, Promise<string[]>][] = [
      ['following', userId === undefined ? Promise.resolve([]) : this.deps.following(userId, options.perSource)],
      ['interest', interestIds],
      ['similar', store.recommendations.similar(subject, options.perSource)],
      ['trending', store.feeds.hot(Math.min(pageIndex * req.limit, 10_000), options.perSource)],
      ['fresh', store.recommendations.fresh(options.perSource)],
    ];
    const found = await Promise.all(sources.map(([name, ids]) => this.withinDeadline(name, ids)));

    // first source wins, in this order (a followed author's post says `following`, not `fresh`)
    const sourceOf = new Map<string, CandidateSource>();
    found.forEach((ids, i) => {
      for (const id of ids) if (!sourceOf.has(id)) sourceOf.set(id, sources[i]![0]);
    });
    // the seen filter first: most of a subject's trending candidates were shown already, and
    // only the rest need reading
    const all = [...sourceOf.keys()];
    const seen = await store.recommendations.seen(subject, all, now, limits);
    const ids = all.filter((_, i) => !seen[i]);
    const states = await this.deps.videos(ids);
    const live: RankInput[] = [];
    ids.forEach((id, i) => {
      const state = states[i];
      if (!state) return;
      live.push({
        id,
        authorId: state.video.ownerId,
        tags: state.video.tagging?.tags ?? [],
        likes: state.counters.likes,
        views: state.counters.views,
        createdAtMs: Date.parse(state.video.createdAt),
        source: sourceOf.get(id)!,
      });
    });
    const blocked = this.deps.blocked ? await this.deps.blocked(subject, live.map((c) => c.authorId)) : [];
    const candidates = live.filter((_, i) => !blocked[i]).map((c) => scoreCandidate(c, weights, now));

    const ranked: Scored[] = [];
    const fresh: Scored[] = [];
    for (const c of candidates) (c.source === 'fresh' ? fresh : ranked).push(c);
    const exploreSlots = options.exploreShare > 0 ? Math.max(1, Math.round(req.limit * options.exploreShare)) : 0;
    const chosen = composePage(
      ranked,
      fresh,
      { limit: req.limit, maxPerAuthor: options.maxPerAuthor, maxPerTag: options.maxPerTag, exploreSlots },
      seededRandom(seedOf(options.seed, subject, pageIndex)),
    );

    const shown = chosen.map((c) => c.id);
    await store.recommendations.markSeen(subject, shown, now, limits);
    store.recommendations
      .countImpressions(shown, options.freshMaxImpressions)
      .catch((err: unknown) => this.deps.onError(err, 'counting For You impressions'));
    const items = chosen.map((c) => ({ videoId: c.id, reason: reasonOf(c) }));
    return items.length === req.limit ? { items, nextCursor: encodeCursor(pageIndex + 1) } : { items };
  }

  /**
   * Learns from one signal and resolves once it is stored (the explicit signals of the REST and
   * socket APIs); E_BUSY when the learning queue is full. See learner.ts.
   */
  recordSignal(subject: Subject, videoId: string, kind: SignalKind): Promise<void> {
    return this.#learner.learn(subject, videoId, kind);
  }

  /**
   * Queues a signal of an interaction that is already stored (a like, unlike or view) without
   * waiting for it to be learned; false when it was shed. The subject's next page still
   * reflects it (`page` waits for it).
   */
  offerSignal(subject: Subject, videoId: string, kind: SignalKind): boolean {
    return this.#learner.offer(subject, videoId, kind);
  }

  /** Settles once the subject's queued signals are learned (never rejects). */
  async learned(subject: Subject): Promise<void> {
    await this.#learner.learned(subject);
  }

  /** Learns every queued signal (shutdown). */
  drain(): Promise<void> {
    return this.#learner.drain();
  }

  /** A new video enters the exploration pool. */
  async published(videoId: string): Promise<void> {
    await this.deps.store.recommendations.addFresh(videoId, this.deps.options.limits);
  }

  /** A deleted video leaves the pool and co-engagement. */
  async removed(videoId: string): Promise<void> {
    await this.deps.store.recommendations.forgetVideo(videoId);
  }

  /** Newest videos of the subject's strongest positive tags and authors, interleaved. */
  private async interestCandidates(weights: ReadonlyMap<string, number>): Promise<string[]> {
    const { store, options } = this.deps;
    const top = [...weights].filter(([, w]) => w > 0).slice(0, options.interestSources);
    if (top.length === 0) return [];
    // together they read twice `perSource`: the newest of a tag are the first to be seen, and
    // the seen filter then drops them, so a shallower read would dry up after a few pages
    const each = Math.max(1, Math.ceil((2 * options.perSource) / top.length));
    const lists = await Promise.all(
      top.map(async ([feature]) =>
        feature.startsWith('tag:')
          ? (await store.videos.byTag(feature.slice(4), { limit: each })).items
          : store.feeds.outbox(feature.slice(7), undefined, each),
      ),
    );
    const out: string[] = [];
    for (let i = 0; i < each; i++) for (const list of lists) if (list[i] !== undefined) out.push(list[i]!);
    return out;
  }

  /** A source's ids, or none when it does not answer within the deadline (or fails). */
  private withinDeadline(name: CandidateSource, ids: Promise<string[]>): Promise<string[]> {
    const { clock, options } = this.deps;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => {
        this.deps.onSourceLate?.(name);
        resolve([]);
      }, options.sourceDeadlineMs);
      ids.then(
        (found) => {
          clock.clearTimeout(timer);
          resolve(found);
        },
        (err: unknown) => {
          clock.clearTimeout(timer);
          this.deps.onError(err, `For You source ${name}`);
          resolve([]);
        },
      );
    });
  }
}
