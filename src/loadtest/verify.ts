/**
 * The final check: the server's state must hold exactly what it acknowledged.
 *
 * - Likes: for each (account, video) pair whose last acknowledged op settled it,
 *   `likedByMe` (read as that account) must agree: a liked pair the server does not
 *   know is a lost like; an unliked pair it still counts is a lost unlike. Each video's
 *   like count must lie between the settled likes and the settled likes plus the
 *   pairs left uncertain (an op that got no ack); above it is a duplicate count.
 * - Comments: every acknowledged comment id must appear exactly once in the video's
 *   comment pages, and no idempotency key (written into the text) may be stored twice.
 * - Threads: every acknowledged reply must appear exactly once in the replies of the thread
 *   its ack named. Comment likes: each comment's like count (read from its thread listing,
 *   exact and uncached) must lie between its settled likes and those plus its uncertain
 *   pairs: below is a lost comment like (or a lost comment), above a duplicate.
 *
 * Reads go through the public REST API of the first target. Counts come through caches
 * that may lag by a bounded time, so a count out of range is read again for a while
 * before it is declared wrong.
 */
import { HttpClient } from '../client/http-client.ts';
import type { Comment, CommentView } from '../protocol/model.ts';
import { mapLimit, sleep } from './fixtures.ts';
import type { Fixtures } from './fixtures.ts';
import { MARKER_PATTERN, type LedgerSnapshot, type LikeState } from './ledger.ts';
import type { LoadtestOptions } from './options.ts';
import { Rng, streamSeed } from './random.ts';

export interface VerifyResult {
  /** True when nothing acknowledged was lost and nothing was applied twice. */
  ok: boolean;
  lost: number;
  duplicates: number;
  likes: {
    pairs: number;
    liked: number;
    uncertain: number;
    pairsChecked: number;
    lostLikes: number;
    lostUnlikes: number;
    /** Sum over videos of (settled likes - server count) where the count is short. */
    countShortfall: number;
    /** Sum over videos of (server count - settled likes - uncertain) where the count is over. */
    countExcess: number;
  };
  comments: {
    acknowledged: number;
    found: number;
    lost: number;
    duplicateIds: number;
    duplicateKeys: number;
    resendMismatches: number;
  };
  commentLikes: {
    pairs: number;
    liked: number;
    uncertain: number;
    comments: number;
    /** Sum over comments of (settled likes - server count) where the count is short. */
    countShortfall: number;
    /** Sum over comments of (server count - settled likes - uncertain) where the count is over. */
    countExcess: number;
  };
  replies: {
    acknowledged: number;
    /** Acknowledged replies not found (once) in the thread their ack named. */
    lost: number;
    /** Extra listings of one reply in its thread. */
    duplicates: number;
  };
  /** A few concrete examples of what was wrong. */
  examples: string[];
  durationMs: number;
}

export async function verifyWrites(o: LoadtestOptions, fixtures: Fixtures, ledgers: LedgerSnapshot[]): Promise<VerifyResult> {
  const t0 = Date.now();
  const target = o.targets[0] ?? '';
  const anonymous = new HttpClient(target);
  const examples: string[] = [];
  const example = (line: string) => {
    if (examples.length < 20) examples.push(line);
  };

  // ---- likes
  const pairs: [number, number, LikeState][] = ledgers.flatMap((l) => l.likes);
  const settled = pairs.filter(([, , s]) => s !== 'uncertain');
  const perVideo = likesPer(pairs);
  const checked = sample(settled, o.verifyMaxPairs, o.seed);
  let lostLikes = 0;
  let lostUnlikes = 0;
  await mapLimit(checked, 16, async ([a, v, s]) => {
    const account = fixtures.accounts[a];
    const videoId = fixtures.videos[v] ?? '';
    const video = await new HttpClient(target, { token: account?.token ?? '' }).getVideo(videoId);
    if (s === 'liked' && video.likedByMe !== true) {
      lostLikes++;
      example(`lost like: account ${account?.id} on video ${videoId} (acknowledged, likedByMe is false)`);
    } else if (s === 'unliked' && video.likedByMe === true) {
      lostUnlikes++;
      example(`lost unlike: account ${account?.id} on video ${videoId} (acknowledged, likedByMe is true)`);
    }
  });

  let countShortfall = 0;
  let countExcess = 0;
  await mapLimit(fixtures.videos, 8, async (videoId, v) => {
    const want = perVideo.get(v) ?? { liked: 0, uncertain: 0 };
    const deadline = Date.now() + o.verifySettleMs;
    for (;;) {
      const likes = (await anonymous.getVideo(videoId)).counters.likes;
      const short = want.liked - likes;
      const over = likes - want.liked - want.uncertain;
      if (short <= 0 && over <= 0) return;
      if (Date.now() >= deadline) {
        if (short > 0) countShortfall += short;
        if (over > 0) countExcess += over;
        example(`video ${videoId}: like count ${likes}, acknowledged ${want.liked} (+${want.uncertain} uncertain)`);
        return;
      }
      await sleep(500);
    }
  });

  // ---- comments
  const acked = ledgers.flatMap((l) => l.comments);
  const seen = new Map<string, number>(); // id -> occurrences in the pages
  const idsByKey = new Map<string, Set<string>>();
  const videosWithComments = new Set(fixtures.videos);
  await mapLimit([...videosWithComments], 8, async (videoId) => {
    for (const c of await allComments(anonymous, videoId)) {
      seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
      const key = MARKER_PATTERN.exec(c.text)?.[1];
      if (key === undefined) continue;
      let ids = idsByKey.get(key);
      if (!ids) idsByKey.set(key, (ids = new Set()));
      ids.add(c.id);
    }
  });
  let commentsLost = 0;
  let found = 0;
  for (const c of acked) {
    if (seen.has(c.id)) found++;
    else {
      commentsLost++;
      example(`lost comment: ${c.id} (key ${c.key}) acknowledged, not in GET /v1/videos/${c.videoId}/comments`);
    }
  }
  let duplicateIds = 0;
  for (const [id, n] of seen) {
    if (n > 1) {
      duplicateIds += n - 1;
      example(`comment ${id} listed ${n} times`);
    }
  }
  let duplicateKeys = 0;
  for (const [key, ids] of idsByKey) {
    if (ids.size > 1) {
      duplicateKeys += ids.size - 1;
      example(`idempotency key ${key} stored ${ids.size} times: ${[...ids].join(', ')}`);
    }
  }
  const resendMismatches = ledgers.reduce((n, l) => n + l.resendMismatches, 0);

  // ---- threads and comment likes: every thread of every video, with its replies
  const views = new Map<string, CommentView>();
  const inThread = new Map<string, number>(); // reply id -> times listed under the thread it names
  await mapLimit(fixtures.videos, 8, async (videoId) => {
    for (const top of await allPages((cursor) => anonymous.threads(videoId, { limit: 100, ...(cursor ? { cursor } : {}) }))) {
      views.set(top.id, top);
      if (top.replies === 0) continue;
      for (const r of await allPages((cursor) => anonymous.replies(top.id, { limit: 100, ...(cursor ? { cursor } : {}) }))) {
        views.set(r.id, r);
        if (r.threadId === top.id) inThread.set(r.id, (inThread.get(r.id) ?? 0) + 1);
      }
    }
  });
  const ackedReplies = acked.filter((c) => c.threadId !== undefined);
  let repliesLost = 0;
  let repliesDuplicated = 0;
  for (const r of ackedReplies) {
    const n = inThread.get(r.id) ?? 0;
    if (n === 0) {
      repliesLost++;
      example(`lost reply: ${r.id} acknowledged in thread ${r.threadId}, not in GET /v1/comments/${r.threadId}/replies`);
    } else if (n > 1) repliesDuplicated += n - 1;
  }
  const commentPairs = ledgers.flatMap((l) => l.commentLikes);
  const perComment = likesPer(commentPairs);
  let commentLikeShortfall = 0;
  let commentLikeExcess = 0;
  for (const [commentId, want] of perComment) {
    const view = views.get(commentId);
    // a comment that is gone is counted once, as a lost comment (or reply), not again for its likes
    if (view === undefined) continue;
    const likes = view.likes;
    const short = want.liked - likes;
    const over = likes - want.liked - want.uncertain;
    if (short > 0) commentLikeShortfall += short;
    if (over > 0) commentLikeExcess += over;
    if (short > 0 || over > 0) example(`comment ${commentId}: like count ${likes}, acknowledged ${want.liked} (+${want.uncertain} uncertain)`);
  }

  const lost = lostLikes + lostUnlikes + Math.max(0, countShortfall - lostLikes) + commentsLost + repliesLost + commentLikeShortfall;
  const duplicates = Math.max(0, countExcess - lostUnlikes) + duplicateIds + duplicateKeys + resendMismatches + repliesDuplicated + commentLikeExcess;
  return {
    ok: lost === 0 && duplicates === 0,
    lost,
    duplicates,
    likes: {
      pairs: pairs.length,
      liked: pairs.filter(([, , s]) => s === 'liked').length,
      uncertain: pairs.length - settled.length,
      pairsChecked: checked.length,
      lostLikes,
      lostUnlikes,
      countShortfall,
      countExcess,
    },
    comments: { acknowledged: acked.length, found, lost: commentsLost, duplicateIds, duplicateKeys, resendMismatches },
    commentLikes: {
      pairs: commentPairs.length,
      liked: commentPairs.filter(([, , st]) => st === 'liked').length,
      uncertain: commentPairs.filter(([, , st]) => st === 'uncertain').length,
      comments: perComment.size,
      countShortfall: commentLikeShortfall,
      countExcess: commentLikeExcess,
    },
    replies: { acknowledged: ackedReplies.length, lost: repliesLost, duplicates: repliesDuplicated },
    examples,
    durationMs: Date.now() - t0,
  };
}

async function allComments(http: HttpClient, videoId: string): Promise<Comment[]> {
  const out: Comment[] = [];
  let cursor: string | undefined;
  do {
    const page = await http.comments(videoId, { order: 'oldest', limit: 100, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** Every item of a paged listing. */
async function allPages<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string }>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    out.push(...p.items);
    cursor = p.nextCursor;
  } while (cursor);
  return out;
}

/** At most `max` items, a seeded sample when there are more. */
function sample<T>(items: T[], max: number, seed: number): T[] {
  if (items.length <= max) return items;
  const rng = new Rng(streamSeed(seed, 0x5a3e));
  const copy = items.slice();
  for (let i = 0; i < max; i++) {
    const j = i + rng.int(copy.length - i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, max);
}

/** Per liked thing (a video, a comment): how many users' ledgers end liked, and how many are uncertain. */
function likesPer<K>(pairs: readonly (readonly [unknown, K, LikeState])[]): Map<K, { liked: number; uncertain: number }> {
  const per = new Map<K, { liked: number; uncertain: number }>();
  for (const [, key, state] of pairs) {
    const e = per.get(key) ?? { liked: 0, uncertain: 0 };
    if (state === 'liked') e.liked++;
    if (state === 'uncertain') e.uncertain++;
    per.set(key, e);
  }
  return per;
}
