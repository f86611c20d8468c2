/**
 * The storage contract, in domain terms. Two drivers implement it: `memory/` (the
 * embedded default) and `redis/` (ioredis + Lua). Both pass one contract suite
 * (test/contract), so a behaviour that differs between them is a bug.
 *
 * Writes are batch-shaped: an actor turn hands its whole batch to ONE call, which
 * applies it atomically and returns the authoritative state (storage is the arbiter
 * when several processes hold an activation of the same entity).
 */
import type {
  Comment,
  Counters,
  Page,
  PageRequest,
  TagInfo,
  UserProfile,
  VideoEvent,
  VideoRecord,
  CommentView,
} from '../protocol/model.ts';
import type { ConversationStore } from './conversations.ts';
import type { InteractionLimits, InteractionLog } from './interactions.ts';
import type { FanoutQueue } from './fanout.ts';
import type { JobStore } from './jobs.ts';
import type { BlockStore, ModerationStore, NotificationStore } from './social.ts';
import type { UploadStore } from './uploads.ts';

// ---------------------------------------------------------------- users

export interface UserRecord {
  id: string;
  handle: string;
  displayName: string;
  bio: string;
  createdAt: string;
  /** scrypt hash; never leaves the auth module. */
  passwordHash: string;
}

export type UserOp = { type: 'follow'; targetId: string } | { type: 'unfollow'; targetId: string };

export type UserOpResult = { ok: true; changed: boolean } | { ok: false; code: 'E_USER_NOT_FOUND' | 'E_SELF_FOLLOW' | 'E_BLOCKED' };

export interface UserStore {
  /** Fails with E_HANDLE_TAKEN when the handle (case-insensitive) is in use. */
  create(user: UserRecord): Promise<void>;
  get(id: string): Promise<UserRecord | null>;
  getByHandle(handle: string): Promise<UserRecord | null>;
  /** Profile with exact counts; null when the user does not exist. */
  profile(id: string): Promise<UserProfile | null>;
  /**
   * Follow/unfollow ops of ONE follower (`userId`), applied in order; idempotent. Each op that
   * changes something records a `follow`/`unfollow` interaction at `now` in the same write.
   */
  applyOps(userId: string, ops: UserOp[], opts: { now: number }): Promise<UserOpResult[]>;
  isFollowing(userId: string, targetId: string): Promise<boolean>;
  followerCount(userId: string): Promise<number>;
  /** Ordered by user id (sign-up order), cursor-paginated. */
  followers(userId: string, page: PageRequest): Promise<Page<string>>;
  following(userId: string, page: PageRequest): Promise<Page<string>>;
  /** Every id `userId` follows (for feed reads); bounded by the follow limit. */
  allFollowing(userId: string): Promise<string[]>;
}

// ---------------------------------------------------------------- videos

export type VideoOp =
  | { type: 'like'; userId: string }
  | { type: 'unlike'; userId: string }
  /** Repeats by one `viewerId` (a user id, or an anonymous viewer's key) within the dedup window count once; without one, every view counts. */
  | { type: 'view'; viewerId?: string }
  | { type: 'comment'; comment: Comment; idempotencyKey: string }
  | { type: 'deleteComment'; commentId: string; userId: string }
  | CommentOp;

export type VideoOpResult =
  | { ok: true; type: 'like' | 'unlike'; changed: boolean }
  | { ok: true; type: 'view'; counted: boolean }
  | { ok: true; type: 'comment'; comment: Comment; duplicate: boolean }
  | { ok: true; type: 'deleteComment'; deleted: boolean }
  | CommentOpResult
  | { ok: false; code: 'E_COMMENT_NOT_FOUND' | 'E_FORBIDDEN' | 'E_REPLY_TARGET' | 'E_PIN_TARGET' };

export interface LogHead {
  /** Offset of the newest event (0 when none yet). */
  offset: number;
  /** Changes when the log is lost or recreated; a client's old offsets are then meaningless. */
  epoch: string;
}

export interface VideoState {
  video: VideoRecord;
  counters: Counters;
  log: LogHead;
}

export interface VideoBatchResult {
  /** One per op, in order. The batch fails as a whole only when the video is gone. */
  results: VideoOpResult[];
  counters: Counters;
  log: LogHead;
  /** Events this batch appended to the log, in offset order. */
  events: VideoEvent[];
}

export interface EventRange {
  epoch: string;
  events: VideoEvent[];
  /** False when the log no longer reaches back to `sinceOffset` (the caller needs a snapshot). */
  complete: boolean;
  head: number;
}

export type CommentOrder = 'newest' | 'oldest';

export interface VideoStore {
  create(video: VideoRecord): Promise<VideoState>;
  get(id: string): Promise<VideoState | null>;
  getMany(ids: string[]): Promise<(VideoState | null)[]>;
  /** Removes the video with its likes, comments and events. False when it did not exist. */
  delete(id: string): Promise<boolean>;
  /**
   * Applies a turn's ops atomically. Fails with E_VIDEO_NOT_FOUND when the video is gone, and
   * with E_EXPORT_BACKLOG (nothing written) when the behaviour log is full (storage/interactions.ts).
   * In the same write, every view, and every like, unlike, comment and comment delete that took
   * effect, records its interaction event.
   */
  applyOps(videoId: string, ops: VideoOp[], opts: { now: number }): Promise<VideoBatchResult>;
  /** Which of `userIds` like the video (same order). */
  likedBy(videoId: string, userIds: string[]): Promise<boolean[]>;
  /** Which of `videoIds` the user likes (same order; false for unknown videos): a page's `likedByMe` in one call. */
  likedByUser(userId: string, videoIds: readonly string[]): Promise<boolean[]>;
  comments(videoId: string, order: CommentOrder, page: PageRequest): Promise<Page<Comment>>;
  /** Events with offset > sinceOffset, oldest first, at most `limit`. */
  events(videoId: string, sinceOffset: number, limit: number): Promise<EventRange>;
  setTagging(videoId: string, tagging: TagInfo): Promise<void>;
  byTag(tag: string, page: PageRequest): Promise<Page<string>>;
}

// ---------------------------------------------------------------- comment threads, likes, pin

/**
 * Comment likes and the pin are ops of the video's turn (VideoStore.applyOps): they live in the
 * video's keys and log, so one turn stays one atomic write, and a like's counter event takes its
 * place in the video's total order.
 */
export type CommentOp =
  | { type: 'likeComment'; commentId: string; userId: string }
  | { type: 'unlikeComment'; commentId: string; userId: string }
  /** The video's owner pins a top-level comment, or unpins (`commentId` null). */
  | { type: 'pinComment'; commentId: string | null; userId: string };

export type CommentOpResult =
  /** `likes`: the comment's exact count after the op; `authorId`: whom a new like notifies. */
  | { ok: true; type: 'likeComment' | 'unlikeComment'; changed: boolean; likes: number; authorId: string }
  | { ok: true; type: 'pinComment'; changed: boolean; pinned: string | null };

/**
 * `newest`: top-level comments by id, newest first (cursor: the last id). `top`: by
 * `log2(1 + likes) + createdAtSeconds / halfLife`, highest first, which orders exactly as
 * `(1 + likes) * 2^(-age / halfLife)` does at any moment (see docs); its pages come from a
 * ranking frozen on the first page (kept `COMMENT_TOP_SNAPSHOT_S`), so likes that change
 * between pages never repeat or skip a comment.
 */
export type ThreadOrder = 'newest' | 'top';

export interface ThreadPageRequest extends PageRequest {
  /** Fills `likedByMe`. */
  viewerId?: string;
}

export interface CommentThreadStore {
  /**
   * Top-level comments with their likes and reply counts. The pinned comment leads the first
   * page (marked `pinned`) and is left out of the ranking. E_VIDEO_NOT_FOUND for an unknown
   * video; E_BAD_CURSOR for a malformed cursor, or a `top` cursor whose ranking has expired.
   */
  threads(videoId: string, order: ThreadOrder, page: ThreadPageRequest, opts: { now: number }): Promise<Page<CommentView>>;
  /** A thread's replies, oldest first. E_COMMENT_NOT_FOUND when `threadId` is not a top-level comment of the video. */
  replies(videoId: string, threadId: string, page: ThreadPageRequest): Promise<Page<CommentView>>;
  /** The pinned comment's id, or null. */
  pinned(videoId: string): Promise<string | null>;
}

// ---------------------------------------------------------------- favorites

export type FavoriteOp = { type: 'favorite' | 'unfavorite'; videoId: string; /** A fresh TSID: orders the list by when. */ at: string };

export type FavoriteOpResult =
  | { ok: true; type: 'favorite' | 'unfavorite'; changed: boolean; favorites: number }
  | { ok: false; code: 'E_VIDEO_NOT_FOUND' };

export interface FavoriteStore {
  /**
   * One user's favorite/unfavorite ops, in order; idempotent. `favorites` is the video's count
   * after the op. An unknown video fails that op alone. Unfavoriting a deleted video works.
   */
  apply(userId: string, ops: FavoriteOp[]): Promise<FavoriteOpResult[]>;
  /** The user's favorites, latest saved first (cursor-paged; ids of deleted videos may appear). */
  list(userId: string, page: PageRequest): Promise<Page<string>>;
  /** Each video's favorite count (0 for unknown videos). */
  counts(videoIds: readonly string[]): Promise<number[]>;
  /** Which of `videoIds` the user keeps in favorites. */
  favoritedBy(userId: string, videoIds: readonly string[]): Promise<boolean[]>;
  /** Whether others may read the user's list (default false: private). */
  isPublic(userId: string): Promise<boolean>;
  setPublic(userId: string, value: boolean): Promise<void>;
}

// ---------------------------------------------------------------- feeds

export interface FeedEntry {
  videoId: string;
  authorId: string;
}

/**
 * An inbox member, `<videoId>:<authorId>`, in both drivers: members sort by video id (':'
 * sorts after every id character), and the author rides along for unfollow filtering.
 */
export function inboxMember(entry: FeedEntry): string {
  return `${entry.videoId}:${entry.authorId}`;
}

export function inboxEntry(member: string): FeedEntry {
  const i = member.indexOf(':');
  return { videoId: member.slice(0, i), authorId: member.slice(i + 1) };
}

/** A place in the hot ranking. */
export interface HotPosition {
  id: string;
  score: number;
}

export interface FeedStore {
  /** Adds a video to each inbox, trimming every inbox to `cap` newest entries. */
  pushToInboxes(userIds: string[], entry: FeedEntry, cap: number): Promise<void>;
  /** Inbox entries older than `before` (a video id), newest first. */
  inbox(userId: string, before: string | undefined, limit: number): Promise<FeedEntry[]>;
  /** An author's own videos older than `before`, newest first. */
  outbox(authorId: string, before: string | undefined, limit: number): Promise<string[]>;
  /** Sets a video's hot score (see domain/feed-policy.ts); removes it when score is null. */
  setHotScore(videoId: string, score: number | null): Promise<void>;
  /**
   * Video ids by descending hot score; `offset` pagination (scores move, ids do not).
   * `offset` comes from a client's cursor: anything but a non-negative safe integer is E_BAD_CURSOR.
   */
  hot(offset: number, limit: number): Promise<string[]>;
  /**
   * Keyset pagination of the hot ranking: entries strictly below `after` in (score desc, id desc)
   * order, with their scores, at most `limit`. A page boundary is a place in the order, not a
   * position, so likes landing between pages cannot push a shown video onto the next page.
   */
  hotAfter(after: HotPosition | undefined, limit: number): Promise<HotPosition[]>;
}

// ---------------------------------------------------------------- recommendations

/**
 * A subject of recommendations: a user id, or `~s:<sessionId>` for an anonymous session.
 * Every piece of a subject's state lives under that subject (one Cluster slot per subject).
 */
export type Subject = string;

/** Bounds of a subject's recommendation state; both drivers apply them the same way. */
export interface RecommendationLimits {
  /** Interest weights kept per subject; past it the weakest (by absolute decayed weight) go. */
  interestsMax: number;
  /** A weight halves every this many ms without new signals. */
  interestHalfLifeMs: number;
  /** Ids kept in the seen filter; past it the oldest go. */
  seenMax: number;
  /** An id leaves the seen filter this long after it was last shown. */
  seenTtlMs: number;
  /** Recent engagements kept per subject, and recent engagers per video. */
  engagedMax: number;
  /** Co-engaged videos kept per subject (the strongest). */
  similarMax: number;
  /**
   * A subject's whole state goes after this long without a signal or a page (anonymous
   * sessions come and go). The memory driver also keeps at most `subjectsMax` subjects,
   * dropping the least recently active; Redis keeps what its memory policy allows.
   */
  stateTtlMs: number;
  subjectsMax: number;
  /** Videos in the exploration pool; past it the oldest (by id) leave. */
  freshPoolMax: number;
}

export interface SignalUpdate {
  videoId: string;
  /** Feature (`tag:<t>`, `author:<id>`) -> weight change (domain/ranking.ts signalDeltas). */
  deltas: ReadonlyMap<string, number>;
  /** A like or a finished watch: the video joins the subject's engagements and the video's engagers. */
  engaged: boolean;
  now: number;
}

/** One subject's signal, as `recordSignals` takes a batch of them. */
export interface SubjectSignal {
  subject: Subject;
  update: SignalUpdate;
}

export interface RecommendationStore {
  /**
   * Applies one signal to a subject at once and atomically: decays and moves its interest
   * weights, adds the video to its seen filter and, when `engaged`, to its engagements.
   */
  recordSignal(subject: Subject, update: SignalUpdate, limits: RecommendationLimits): Promise<void>;
  /** The subject's interest weights decayed to `now`, strongest first. */
  interests(subject: Subject, now: number, limits: RecommendationLimits): Promise<Map<string, number>>;
  /** Adds ids to the subject's seen filter at `now` (bounded by seenMax and seenTtlMs). */
  markSeen(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<void>;
  /** Which of `videoIds` the subject was shown within the seen TTL (same order). */
  seen(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<boolean[]>;
  /** The subject's most recent engagements (video ids), newest first. */
  engaged(subject: Subject, limit: number): Promise<string[]>;
  /** Recent engagers of a video (subjects), newest first; kept by recordSignal of the video, capped at engagedMax. */
  engagers(videoId: string, limit: number): Promise<Subject[]>;
  /** Adds a video's engager (a separate slot from the subject's own state, so its own step). */
  addEngager(videoId: string, subject: Subject, limits: RecommendationLimits): Promise<void>;
  /** Raises each video's co-engagement score for the subject by 1, keeping the strongest similarMax. */
  addSimilar(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<void>;
  // Batched forms for the learner (actors/learner.ts): one call for a whole flush of signals,
  // each the same as the single call repeated in order (a Redis driver pipelines them, or on a
  // Cluster issues them together, one connection per slot keeping each slot's order).
  /** `recordSignal` of each entry, in order (one subject's signals apply in the order given). */
  recordSignals(signals: readonly SubjectSignal[], limits: RecommendationLimits): Promise<void>;
  /** `engaged` of each subject (same order). */
  engagedOf(subjects: readonly Subject[], limit: number): Promise<string[][]>;
  /** `engagers` of each video (same order). */
  engagersOf(videoIds: readonly string[], limit: number): Promise<Subject[][]>;
  /** `addSimilar` of each entry, in order. */
  addSimilarMany(entries: readonly { subject: Subject; videoIds: readonly string[] }[], now: number, limits: RecommendationLimits): Promise<void>;
  /** `addEngager` of each entry, in order. */
  addEngagers(entries: readonly { videoId: string; subject: Subject }[], limits: RecommendationLimits): Promise<void>;
  /** The subject's co-engaged videos, strongest first. */
  similar(subject: Subject, limit: number): Promise<string[]>;
  /** A new video joins the exploration pool with no impressions. */
  addFresh(videoId: string, limits: RecommendationLimits): Promise<void>;
  /** Counts impressions; a video shown `maxImpressions` times leaves the pool. */
  countImpressions(videoIds: readonly string[], maxImpressions: number): Promise<void>;
  /** Pool videos with the fewest impressions (ties: lower id first), at most `limit`. */
  fresh(limit: number): Promise<string[]>;
  /** A deleted video leaves the pool and its engagers list. */
  forgetVideo(videoId: string): Promise<void>;
}

// ---------------------------------------------------------------- conversations (direct messages)

// The contract lives in conversations.ts (beside its two drivers' shared rules); re-exported here
// so the layers above import every store type from one place.
export type {
  ApplyOptions,
  ConversationBatchResult,
  ConversationOp,
  ConversationOpResult,
  ConversationState,
  ConversationStore,
  DmEventRange,
  NewMessage,
} from './conversations.ts';

// ---------------------------------------------------------------- the whole

/** What both drivers bound the same way. */
export interface StoreLimits {
  eventLogMax: number;
  viewDedupS: number;
  /** Entries kept in each conversation's log (DM_LOG_MAX); optional so older callers keep working. */
  dmLogMax?: number;
  /** The behaviour log's bound and most events per entry; DEFAULT_INTERACTION_LIMITS when absent. */
  interactions?: InteractionLimits;
  /** `top` comment ranking: a comment's time counts like a doubling of its likes every this many seconds. Default 21600. */
  commentTopHalfLifeS?: number;
  /** How long a `top` ranking's cursors stay valid. Default 600. */
  commentTopSnapshotS?: number;
  /** A `top` ranking covers at most this many top-level comments (the highest). Default 1000. */
  commentTopMax?: number;
}


export const COMMENT_TOP_DEFAULTS = { commentTopHalfLifeS: 21600, commentTopSnapshotS: 600, commentTopMax: 1000 } as const;

/** The aggregates' stores, one per aggregate: what every driver provides. */
export interface StoreAggregates {
  readonly users: UserStore;
  readonly videos: VideoStore;
  readonly feeds: FeedStore;
  /** The durable fan-out queue (fanout.ts): new posts whose followers' inboxes still need them. */
  readonly fanout: FanoutQueue;
  readonly recommendations: RecommendationStore;
  readonly jobs: JobStore;
  readonly uploads: UploadStore;
  readonly conversations: ConversationStore;
  /** The behaviour log (storage/interactions.ts). */
  readonly interactions: InteractionLog;
  // social depth (social.ts): the notifications inbox, blocks, reports and hidden content
  readonly notifications: NotificationStore;
  readonly blocks: BlockStore;
  readonly moderation: ModerationStore;
  readonly comments: CommentThreadStore;
  readonly favorites: FavoriteStore;
}

export interface Store extends StoreAggregates {
  readonly driver: 'memory' | 'redis';
  /** Resolves when storage answers; rejects with the reason otherwise (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What MemoryStore and RedisStore extend: an object holding the aggregates' stores its
 * constructor is given (each driver builds its own, then passes them to `super`).
 */
export const StoreAggregatesBase = class {
  constructor(aggregates: StoreAggregates) {
    Object.assign(this, aggregates);
  }
} as new (aggregates: StoreAggregates) => StoreAggregates;
