/**
 * For You learning off the interaction path (issue 21). A like, unlike or view is acknowledged
 * once it is stored; its signal waits here, in process, and a background flush learns every
 * signal queued by then together, with one batched Store call per step (about six per flush,
 * whatever its size) instead of about five per signal.
 *
 * - One flush at a time: while one is learning, new signals queue and form the next (the
 *   actor's group commit, applied to learning), so a busier process learns in larger batches,
 *   up to FLUSH_MAX signals each.
 * - Bounded: at most `queueMax` signals wait (plus the flush in flight). Past it the arriving
 *   signal is shed, counted (`onShed`) and logged at most every SHED_LOG_EVERY_MS: the
 *   interaction itself is stored and in the event stream, only the learning is advisory.
 *   The newest is shed rather than the oldest: a queued signal may have a page waiting on it
 *   (`learned`), and refusing at the tail costs nothing, where taking from the head would
 *   break the waiting page's promise of read-your-writes.
 * - Read-your-writes: `learned(subject)` settles when the flush holding the subject's newest
 *   signal has finished, so a page that awaits it reflects the subject's own signals.
 * - A failure to learn never fails the interaction: it is reported to `onError`, and only a
 *   caller that asked to wait (`learn`) sees it.
 *
 * Within a flush, signals are learned in rounds in which each (subject, video) pair appears
 * once, so one subject's signals on one video (like, then unlike) apply in order; each signal
 * is learned as if the round's earlier ones came first.
 */
import type { Clock } from '../domain/clock.ts';
import { ENGAGING_SIGNALS, signalDeltas, videoFeatures, type SignalKind } from '../domain/ranking.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { RecommendationLimits, Store, Subject, VideoState } from '../storage/store.ts';

/** How many of a subject's co-engagers, and of each one's engagements, a signal looks at. */
const CO_ENGAGERS = 10;
const CO_ENGAGED = 10;
/** When an engagement spreads to the peers who engaged with the subject's recent videos. */
const PEER_VIDEOS = 2;
const PEERS_PER_VIDEO = 8;
/**
 * Signals learned by one flush; more wait for the next, which starts at once. It bounds each
 * batched Store call (a pipeline of this many scripts at most) so that a backlog neither runs
 * into the store's command timeout nor holds the connection the likes share for long.
 */
export const FLUSH_MAX = 2500;
/** At most one warning about shed signals per this many ms. */
export const SHED_LOG_EVERY_MS = 10_000;

export interface LearnerDeps {
  store: Store;
  clock: Clock;
  limits: RecommendationLimits;
  /** Signals that may wait for a flush; past it the arriving one is shed. */
  queueMax: number;
  /** Video states through the read cache (null: deleted). */
  videos: (ids: readonly string[]) => Promise<(VideoState | null)[]>;
  onError: (err: unknown, context: string) => void;
  /** Told of each shed signal (the Prometheus counter). */
  onShed?: () => void;
  /** The rate-limited log of shed signals. */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
}

interface Signal {
  subject: Subject;
  videoId: string;
  kind: SignalKind;
  /** Set when a caller waits for this signal to be learned. */
  waiter?: { resolve: () => void; reject: (err: unknown) => void };
}

/** A batch in the making: its signals and the promise that settles once they are learned. */
interface Batch {
  signals: Signal[];
  done: Promise<void>;
  settle: () => void;
}

export class Learner {
  /** Batches waiting for a flush, oldest first, each of at most FLUSH_MAX signals. */
  readonly #waiting: Batch[] = [];
  #queued = 0;
  #flushing: Promise<void> | undefined;
  /** Per subject, the batch holding its newest signal (removed when that batch is learned). */
  readonly #bySubject = new Map<Subject, Promise<void>>();
  #shedSinceLog = 0;
  #lastLogAt = -Infinity;

  constructor(private readonly deps: LearnerDeps) {}

  /** Signals waiting for a flush (not counting the one in flight). */
  get queued(): number {
    return this.#queued;
  }

  /** Queues a signal without waiting for it; false when it was shed. */
  offer(subject: Subject, videoId: string, kind: SignalKind): boolean {
    return this.#enqueue({ subject, videoId, kind });
  }

  /** Queues a signal and resolves once it is learned; E_BUSY when it was shed. */
  learn(subject: Subject, videoId: string, kind: SignalKind): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.#enqueue({ subject, videoId, kind, waiter: { resolve, reject } })) {
        reject(new TremoloError('E_BUSY', 'For You learning is behind; the signal was not learned', { retryAfter: 1 }));
      }
    });
  }

  /**
   * Settles once the subject's signals queued so far are learned (or failed: never rejects);
   * undefined when none is waiting, so a caller need not yield to the event loop for nothing.
   */
  learned(subject: Subject): Promise<void> | undefined {
    return this.#bySubject.get(subject);
  }

  /** Learns everything queued, including what the flushes it waits for leave (shutdown). */
  async drain(): Promise<void> {
    while (this.#flushing || this.#waiting.length > 0) await (this.#flushing ?? this.#waiting[0]!.done);
  }

  #enqueue(signal: Signal): boolean {
    if (this.queued >= this.deps.queueMax) {
      this.#shed();
      return false;
    }
    let last = this.#waiting.at(-1);
    if (!last || last.signals.length >= FLUSH_MAX) {
      let settle!: () => void;
      const done = new Promise<void>((resolve) => (settle = resolve));
      last = { signals: [], done, settle };
      this.#waiting.push(last);
      // the replies of one actor turn arrive in one turn of the event loop: wait for them all
      if (this.#waiting.length === 1 && !this.#flushing) setImmediate(() => this.#startFlush());
    }
    last.signals.push(signal);
    this.#queued++;
    this.#bySubject.set(signal.subject, last.done);
    return true;
  }

  #startFlush(): void {
    if (this.#flushing) return;
    const batch = this.#waiting.shift();
    if (!batch) return;
    this.#queued -= batch.signals.length;
    this.#flushing = this.#learnBatch(batch).finally(() => {
      for (const s of batch.signals) if (this.#bySubject.get(s.subject) === batch.done) this.#bySubject.delete(s.subject);
      batch.settle();
      this.#flushing = undefined;
      // what queued meanwhile is the next batch, started once pending I/O (the acks) had its turn
      if (this.#waiting.length > 0) setImmediate(() => this.#startFlush());
    });
  }

  #shed(): void {
    this.deps.onShed?.();
    this.#shedSinceLog++;
    const now = this.deps.clock.now();
    if (now - this.#lastLogAt < SHED_LOG_EVERY_MS) return;
    this.deps.onWarning?.('For You learning queue full: signals shed (the interactions are stored; only their learning is lost)', {
      shed: this.#shedSinceLog,
      queueMax: this.deps.queueMax,
    });
    this.#shedSinceLog = 0;
    this.#lastLogAt = now;
  }

  async #learnBatch(batch: Batch): Promise<void> {
    let rest = batch.signals;
    while (rest.length > 0) {
      const inRound = new Set<string>();
      const round: Signal[] = [];
      const later: Signal[] = [];
      for (const s of rest) {
        const pair = `${s.subject}\n${s.videoId}`;
        if (inRound.has(pair)) later.push(s);
        else {
          inRound.add(pair);
          round.push(s);
        }
      }
      try {
        await this.#learnRound(round);
        for (const s of round) s.waiter?.resolve();
      } catch (err) {
        for (const s of round) s.waiter?.reject(err);
        // a waiter hears of it; the signals nobody waits for are reported once for the round
        if (round.some((s) => !s.waiter)) this.deps.onError(err, `For You learning of ${round.length} signal(s)`);
      }
      rest = later;
    }
  }

  /** One round: each step is one Store call for every signal of the round. */
  async #learnRound(round: readonly Signal[]): Promise<void> {
    const { store, limits, clock } = this.deps;
    const r = store.recommendations;
    const videoIds = unique(round.map((s) => s.videoId));
    const states = await this.deps.videos(videoIds);
    const featuresOf = new Map<string, ReturnType<typeof videoFeatures>>();
    videoIds.forEach((id, i) => {
      const state = states[i];
      if (state) featuresOf.set(id, videoFeatures(state.video));
    });
    const live = round.filter((s) => featuresOf.has(s.videoId));
    if (live.length === 0) return;
    const now = clock.now();
    const engaged = live.filter((s) => ENGAGING_SIGNALS.has(s.kind));
    const engagers = unique(engaged.map((s) => s.subject));
    // the peers are read before this engagement is written, so a subject is not its own peer
    const recentOf = zip(engagers, engagers.length ? await r.engagedOf(engagers, PEER_VIDEOS) : []);
    await r.recordSignals(
      live.map((s) => ({
        subject: s.subject,
        update: { videoId: s.videoId, deltas: signalDeltas(s.kind, featuresOf.get(s.videoId)!), engaged: ENGAGING_SIGNALS.has(s.kind), now },
      })),
      limits,
    );
    if (engaged.length === 0) return;

    // engagers of the engaged videos (co-engagers) and of the subjects' recent videos (peers),
    // in one read before this round's engagers are written
    const readIds = unique([...engaged.map((s) => s.videoId), ...[...recentOf.values()].flat()]);
    const storedOf = zip(readIds, await r.engagersOf(readIds, Math.max(CO_ENGAGERS, PEERS_PER_VIDEO)));

    // a video's engagers as the k-th of its subjects in the round finds them: the round's
    // earlier ones (newest first), then those stored before the round
    const earlier = new Map<string, Subject[]>();
    const coEngagers = engaged.map((s) => {
      const before = earlier.get(s.videoId) ?? [];
      const list = unique([...[...before].reverse(), ...(storedOf.get(s.videoId) ?? []).slice(0, CO_ENGAGERS)])
        .slice(0, CO_ENGAGERS)
        .filter((p) => p !== s.subject);
      earlier.set(s.videoId, [...before, s.subject]);
      return list;
    });
    const everyone = unique(coEngagers.flat());
    const theirs = zip(everyone, everyone.length ? await r.engagedOf(everyone, CO_ENGAGED) : []);
    const similar = engaged.map((s, k) => ({
      subject: s.subject,
      videoIds: unique(coEngagers[k]!.flatMap((p) => theirs.get(p) ?? [])).filter((id) => id !== s.videoId),
    }));

    // each subject's peers take the video once per subject that reaches them
    const reached = new Map<Subject, string[]>();
    for (const s of engaged) {
      const peers = new Set<Subject>();
      for (const id of recentOf.get(s.subject) ?? []) {
        if (id === s.videoId) continue;
        for (const p of (storedOf.get(id) ?? []).slice(0, PEERS_PER_VIDEO)) if (p !== s.subject) peers.add(p);
      }
      for (const p of peers) reached.set(p, [...(reached.get(p) ?? []), s.videoId]);
    }
    await r.addSimilarMany([...similar, ...[...reached].map(([subject, ids]) => ({ subject, videoIds: ids }))], now, limits);
    await r.addEngagers(
      engaged.map((s) => ({ videoId: s.videoId, subject: s.subject })),
      limits,
    );
  }
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function zip<K, V>(keys: readonly K[], values: readonly V[]): Map<K, V> {
  return new Map(keys.map((k, i) => [k, values[i]!]));
}
