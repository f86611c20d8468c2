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
 * - `recordSignal` is the one entry point for learning: likes and views call it here; watch
 *   events (finish, skip) call it from wherever they arrive. The next page reflects it.
 * - The cursor is the page number: the seen filter, not a position, keeps pages from repeating,
 *   and the page number seeds exploration so a page is reproducible for a given state.
 */
import type { Clock } from '../domain/clock.ts';
import type { EarlySkipOptions } from './early-skips.ts';
import {
  composePage,
  ENGAGING_SIGNALS,
  reasonOf,
  scoreCandidate,
  seededRandom,
  seedOf,
  signalDeltas,
  videoFeatures,
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
  /** Told when a source missed its deadline (metrics, tests). */
  onSourceLate?: (source: CandidateSource) => void;
}

/** One item of a For You page: a video id and why it is shown. */
export interface ForYouItem {
  videoId: string;
  reason: string;
}

/** How many of a subject's co-engagers, and of each one's engagements, a signal looks at. */
const CO_ENGAGERS = 10;
const CO_ENGAGED = 10;
/** When an engagement spreads to the peers who engaged with the subject's recent videos. */
const PEER_VIDEOS = 2;
const PEERS_PER_VIDEO = 8;

/** A signal waiting for its video's next learning pass. */
interface PendingSignal {
  subject: Subject;
  kind: SignalKind;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Recommendations {
  /** Signals waiting for the next pass, per video (see recordSignal). */
  readonly #pending = new Map<string, PendingSignal[]>();
  #scheduled = false;

  constructor(private readonly deps: RecommendationDeps) {}

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
   * Learns from one signal: the subject's interest weights move by the video's features, the
   * video joins its seen filter, and a like or a finished watch feeds co-engagement both ways
   * (the subject takes its co-engagers' recent videos; its recent videos' engagers take this
   * one). Resolves once all of it is stored, so the subject's next page reflects it.
   *
   * Signals on one video that arrive in the same turn of the event loop (the replies of one
   * actor turn: dozens of likes on a hot video) are learned together, a group commit like the
   * actor's: the video, its engagers and their engagements are read once for the batch instead
   * of once per signal, and a peer that several of them reach is written once. Each signal is
   * learned as if the batch's earlier ones came first; one subject's signals apply in order.
   */
  recordSignal(subject: Subject, videoId: string, kind: SignalKind): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const signal = { subject, kind, resolve, reject };
      const list = this.#pending.get(videoId);
      if (list) list.push(signal);
      else this.#pending.set(videoId, [signal]);
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batches = [...this.#pending];
    this.#pending.clear();
    for (const [videoId, signals] of batches) void this.#learnVideo(videoId, signals);
  }

  /** One video's batch, in rounds in which each subject appears once (its signals stay in order). */
  async #learnVideo(videoId: string, signals: PendingSignal[]): Promise<void> {
    let rest = signals;
    while (rest.length > 0) {
      const inRound = new Set<Subject>();
      const round: PendingSignal[] = [];
      const later: PendingSignal[] = [];
      for (const s of rest) {
        if (inRound.has(s.subject)) later.push(s);
        else {
          inRound.add(s.subject);
          round.push(s);
        }
      }
      try {
        await this.#learnRound(videoId, round);
        for (const s of round) s.resolve();
      } catch (err) {
        for (const s of round) s.reject(err);
      }
      rest = later;
    }
  }

  /** Signals of distinct subjects on one video. */
  async #learnRound(videoId: string, round: readonly PendingSignal[]): Promise<void> {
    const { store, options, clock } = this.deps;
    const [state] = await this.deps.videos([videoId]);
    if (!state) return;
    const now = clock.now();
    const limits = options.limits;
    const features = videoFeatures(state.video);
    const engaged = round.filter((s) => ENGAGING_SIGNALS.has(s.kind)).map((s) => s.subject);
    // the peers are read before this engagement is written, so the subject is not its own peer
    const recent = await Promise.all(engaged.map((s) => store.recommendations.engaged(s, PEER_VIDEOS)));
    await Promise.all(
      round.map((s) =>
        store.recommendations.recordSignal(s.subject, { videoId, deltas: signalDeltas(s.kind, features), engaged: ENGAGING_SIGNALS.has(s.kind), now }, limits),
      ),
    );
    if (engaged.length === 0) return;

    // the video's engagers as the k-th subject finds them: the batch's earlier ones (newest
    // first), then those stored before the batch
    const stored = await store.recommendations.engagers(videoId, CO_ENGAGERS);
    const coEngagersOf = (k: number): Subject[] => {
      const before = engaged.slice(0, k).reverse();
      const list = [...new Set([...before, ...stored])].slice(0, CO_ENGAGERS);
      return list.filter((s) => s !== engaged[k]);
    };
    const lists = engaged.map((_, k) => coEngagersOf(k));
    const everyone = [...new Set(lists.flat())];
    const theirs = new Map(await Promise.all(everyone.map(async (s) => [s, await store.recommendations.engaged(s, CO_ENGAGED)] as const)));
    await Promise.all(
      engaged.map((subject, k) => {
        const similar = [...new Set(lists[k]!.flatMap((s) => theirs.get(s) ?? []))].filter((id) => id !== videoId);
        return store.recommendations.addSimilar(subject, similar, now, limits);
      }),
    );

    const recentIds = [...new Set(recent.flat())].filter((id) => id !== videoId);
    const engagersOf = new Map(await Promise.all(recentIds.map(async (id) => [id, await store.recommendations.engagers(id, PEERS_PER_VIDEO)] as const)));
    // each subject's peers take this video once per subject that reaches them
    const reached = new Map<Subject, number>();
    engaged.forEach((subject, k) => {
      const peers = new Set<Subject>();
      for (const id of recent[k]!) if (id !== videoId) for (const s of engagersOf.get(id) ?? []) if (s !== subject) peers.add(s);
      for (const p of peers) reached.set(p, (reached.get(p) ?? 0) + 1);
    });
    await Promise.all([...reached].map(([peer, n]) => store.recommendations.addSimilar(peer, new Array<string>(n).fill(videoId), now, limits)));
    // issued in order: one connection (and the memory driver) applies them in that order
    await Promise.all(engaged.map((subject) => store.recommendations.addEngager(videoId, subject, limits)));
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
