/**
 * The For You ranking, as pure functions: what a signal teaches, how a candidate scores,
 * how a page is diversified and where exploration goes. No storage, no clock of its own:
 * every time is passed in, so the same inputs always give the same page.
 *
 * Score of a candidate video v for a subject (a user or an anonymous session):
 *
 *   interest(v)  = sum of the subject's weights over v's features (`tag:<t>`, `author:<id>`),
 *                  each weight halving every INTEREST_HALF_LIFE without new signals
 *   affinity(v)  = 1 + interest(v)           when interest(v) >= 0
 *                  exp(interest(v))          when interest(v) <  0   (skips push a video down, never below 0)
 *   quality(v)   = ((likes + 20 * 0.05) / (views + 20)) / 0.05
 *                  the like rate smoothed toward a 5 % prior by 20 pseudo-views, relative to the prior
 *                  (1 = average; small counts stay near 1)
 *   recency(v)   = 0.5 + 0.5 * 2^(-age / 48 h)
 *   score(v)     = affinity(v) * quality(v) * recency(v) * SOURCE_WEIGHT[source]
 *
 * A page takes candidates by descending score, at most `maxPerAuthor` per author and
 * `maxPerTag` per tag, and reserves `exploreSlots` places for fresh videos picked at random
 * (a seeded generator), so new uploads get seen and rated.
 */

/** What a subject did with a video. `finish` and `skip` come from watch events. */
export type SignalKind = 'like' | 'unlike' | 'finish' | 'skip' | 'view';

export const SIGNAL_KINDS: readonly SignalKind[] = ['like', 'unlike', 'finish', 'skip', 'view'];

/** Where a candidate came from; each item of the feed says why it was shown. */
export type CandidateSource = 'following' | 'interest' | 'similar' | 'trending' | 'fresh';

/** How much each signal moves the weight of each of the video's tags; authors get half. */
export const SIGNAL_WEIGHT: Readonly<Record<SignalKind, number>> = {
  like: 1,
  unlike: -1,
  finish: 0.6,
  skip: -0.4,
  view: 0.05,
};

/** Signals that make a video part of the subject's co-engagement (`similar`) history. */
export const ENGAGING_SIGNALS: ReadonlySet<SignalKind> = new Set(['like', 'finish']);

export const SOURCE_WEIGHT: Readonly<Record<CandidateSource, number>> = {
  following: 1.2,
  interest: 1,
  similar: 1.1,
  trending: 1,
  fresh: 1,
};

export const INTEREST_HALF_LIFE_MS = 7 * 24 * 3600 * 1000;
const AUTHOR_SHARE = 0.5;
const PRIOR_LIKE_RATE = 0.05;
const PRIOR_VIEWS = 20;
const RECENCY_HALF_LIFE_MS = 48 * 3600 * 1000;

export const tagFeature = (tag: string): string => `tag:${tag}`;
export const authorFeature = (authorId: string): string => `author:${authorId}`;

/** The features a video carries: its tags (at most `maxTags`, in order) and its author. */
export function videoFeatures(video: { ownerId: string; tagging?: { tags: readonly string[] } }, maxTags = 8): string[] {
  return [...(video.tagging?.tags ?? []).slice(0, maxTags).map(tagFeature), authorFeature(video.ownerId)];
}

/** The weight changes one signal makes: feature -> delta. */
export function signalDeltas(kind: SignalKind, features: readonly string[]): Map<string, number> {
  const base = SIGNAL_WEIGHT[kind];
  const out = new Map<string, number>();
  for (const f of features) out.set(f, f.startsWith('author:') ? base * AUTHOR_SHARE : base);
  return out;
}

/** A weight `w` set at `since`, as it stands at `now`. */
export function decayed(w: number, since: number, now: number, halfLifeMs = INTEREST_HALF_LIFE_MS): number {
  const age = Math.max(0, now - since);
  return w * Math.pow(2, -age / halfLifeMs);
}

export interface RankInput {
  id: string;
  authorId: string;
  tags: readonly string[];
  likes: number;
  views: number;
  createdAtMs: number;
  source: CandidateSource;
}

export interface Scored extends RankInput {
  score: number;
  interest: number;
  /** The feature that contributed most to `interest` (for the reason), if any was positive. */
  topFeature: string | undefined;
}

export function quality(likes: number, views: number): number {
  const rate = (Math.max(0, likes) + PRIOR_VIEWS * PRIOR_LIKE_RATE) / (Math.max(0, views, likes) + PRIOR_VIEWS);
  return rate / PRIOR_LIKE_RATE;
}

export function recency(createdAtMs: number, now: number): number {
  return 0.5 + 0.5 * Math.pow(2, -Math.max(0, now - createdAtMs) / RECENCY_HALF_LIFE_MS);
}

export function affinity(interest: number): number {
  return interest >= 0 ? 1 + interest : Math.exp(interest);
}

/** The documented expression, for one candidate. `weights` are already decayed to `now`. */
export function scoreCandidate(c: RankInput, weights: ReadonlyMap<string, number>, now: number): Scored {
  let interest = 0;
  let top: string | undefined;
  let topWeight = 0;
  const add = (f: string): void => {
    const w = weights.get(f) ?? 0;
    interest += w;
    if (w > topWeight) {
      topWeight = w;
      top = f;
    }
  };
  if (weights.size > 0) {
    for (const t of c.tags) add(tagFeature(t));
    add(authorFeature(c.authorId));
  }
  const score = affinity(interest) * quality(c.likes, c.views) * recency(c.createdAtMs, now) * SOURCE_WEIGHT[c.source];
  // every field spelled out: a spread with a conditional part made this ~20x slower (dictionary-mode objects)
  return {
    id: c.id,
    authorId: c.authorId,
    tags: c.tags,
    likes: c.likes,
    views: c.views,
    createdAtMs: c.createdAtMs,
    source: c.source,
    score,
    interest,
    topFeature: top,
  };
}

/** Why an item is shown, as the feed reports it. */
export function reasonOf(c: Scored): string {
  if (c.source === 'interest' && c.topFeature !== undefined) {
    return c.topFeature.startsWith('tag:') ? `interest:${c.topFeature.slice(4)}` : `interest:@${c.topFeature.slice(7)}`;
  }
  return c.source === 'interest' ? 'trending' : c.source;
}

export interface PageRules {
  limit: number;
  maxPerAuthor: number;
  maxPerTag: number;
  /** Places of the page kept for fresh candidates (fewer when there are not enough). */
  exploreSlots: number;
}

/**
 * One page: ranked candidates by score (ties by id), then diversified; `fresh` candidates fill
 * the exploration places in an order drawn from `random`, and are spread through the page.
 */
export function composePage(ranked: readonly Scored[], fresh: readonly Scored[], rules: PageRules, random: () => number): Scored[] {
  const perAuthor = new Map<string, number>();
  const perTag = new Map<string, number>();
  const taken = new Set<string>();
  const fits = (c: Scored): boolean =>
    !taken.has(c.id) && (perAuthor.get(c.authorId) ?? 0) < rules.maxPerAuthor && c.tags.every((t) => (perTag.get(t) ?? 0) < rules.maxPerTag);
  const take = (c: Scored): void => {
    taken.add(c.id);
    perAuthor.set(c.authorId, (perAuthor.get(c.authorId) ?? 0) + 1);
    for (const t of c.tags) perTag.set(t, (perTag.get(t) ?? 0) + 1);
  };

  const explore: Scored[] = [];
  for (const c of shuffled(fresh, random)) {
    if (explore.length >= Math.min(rules.exploreSlots, rules.limit)) break;
    if (fits(c)) {
      take(c);
      explore.push(c);
    }
  }
  const main: Scored[] = [];
  const byScore = [...ranked].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
  for (const c of byScore) {
    if (main.length + explore.length >= rules.limit) break;
    if (fits(c)) {
      take(c);
      main.push(c);
    }
  }
  // A page short of ranked candidates takes more fresh ones rather than come back short.
  for (const c of shuffled(fresh, random)) {
    if (main.length + explore.length >= rules.limit) break;
    if (fits(c)) {
      take(c);
      explore.push(c);
    }
  }
  // exploration spread evenly through the page, not bunched at one end
  const out = [...main];
  explore.forEach((c, i) => {
    const at = Math.min(out.length, Math.floor(((i + 1) * (main.length + explore.length)) / (explore.length + 1)));
    out.splice(at, 0, c);
  });
  return out;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** A small seeded generator (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from text (FNV-1a), e.g. a subject and a page number. */
export function seedOf(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
