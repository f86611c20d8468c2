/**
 * Engine: the one in-process API that the HTTP routes, the Socket.IO gateway, the media
 * pipeline and the tests all use, a facade over the parts that do the work:
 * - writes go through typed actor refs (runtime.ts: group commit, output gate);
 * - reads go through the read model (read-model.ts: caches, feed pages);
 * - every change that makes a copy stale is named once, as a typed value, and dropped here
 *   and in the other processes (invalidations.ts);
 * - hot scores are batched on the injected Clock (hot-scores.ts).
 * Nothing here knows about sockets or HTTP.
 */
import type { TraceContext, Tracing } from '../telemetry/tracing.ts';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock.ts';
import type { TsidGenerator } from '../domain/ids.ts';
import { isTsid } from '../domain/ids.ts';
import { SIGNAL_KINDS, type SignalKind } from '../domain/ranking.ts';
import { boundTagging, TagTokenizer } from '../domain/tags.ts';
import { requireText } from '../domain/text.ts';
import type { Metrics } from '../metrics.ts';
import { TremoloError } from '../protocol/errors.ts';
import type {
  AnalyticsQuery,
  Comment,
  Counters,
  MediaRefs,
  Page,
  PageRequest,
  TagInfo,
  UserProfile,
  Video,
  VideoAnalytics,
  VideoEvent,
  VideoRecord,
  CommentView,
} from '../protocol/model.ts';
import type { InvalidationBus } from '../storage/cache/invalidation.ts';
import type { CommentOrder, EventRange, HotPosition, Store, UserRecord, VideoState, ThreadOrder } from '../storage/store.ts';
import { decodeCursor, encodeCursor } from '../storage/cursor.ts';
import type { ContentFilter } from '../domain/moderation.ts';
import type { ModerationTarget } from '../protocol/social.ts';
import type { EventSink } from './events.ts';
import { DEFAULT_SOCIAL_LIMITS, Social, type Actor, type SocialLimits } from './social.ts';
import { FAVORITES_ACTOR, favoritesActor, type FavoriteReply } from './favorites-actor.ts';
import { FeedService, type FeedOptions } from './feed.ts';
import { HotScores } from './hot-scores.ts';
import { Invalidations, type Change, type ChangeSource } from './invalidations.ts';
import { Recommendations, type RecommendationOptions } from './recommendations.ts';
import { DEFAULT_EARLY_SKIPS, EarlySkips } from './early-skips.ts';
import { ReadModel, type VideoPage } from './read-model.ts';
import { analyticsWindow, bucketIso, totalsOf, type AnalyticsSource } from './analytics.ts';
import { InteractionService, type InteractionServiceDeps, type ReportLimits } from './interactions.ts';
import { ActorSystem, type ActorLimits } from './runtime.ts';
import { USER_ACTOR, userActor, type UserReply } from './user-actor.ts';
import { CONVERSATION_ACTOR, conversationActor } from './conversation-actor.ts';
import { ConversationService, DEFAULT_DM_LIMITS, type DmLimits } from './conversations.ts';
import {
  VIDEO_ACTOR,
  videoActor,
  type CommentLikeReply,
  type CommentReply,
  type DeleteCommentReply,
  type PinReply,
  type LikeReply,
  type VideoMsg,
  type VideoSnapshot,
  type ViewReply,
} from './video-actor.ts';

export type { VideoPage } from './read-model.ts';

export interface EngineLimits {
  titleMaxChars: number;
  descriptionMaxChars: number;
  commentMaxChars: number;
  readStaleMs: number;
  cache: { max: number; ttlMs: number; negativeTtlMs: number };
  actors: ActorLimits;
  feed: FeedOptions;
  recommendations: RecommendationOptions;
  /** Direct messages; defaults where absent (DEFAULT_DM_LIMITS). */
  dm?: Partial<DmLimits>;
  /** Client-reported events (watch progress, impressions). Default: DEFAULT_REPORT_LIMITS. */
  reports?: ReportLimits;
}

export const DEFAULT_REPORT_LIMITS: ReportLimits = { progressIntervalMs: 2000, maxAgeMs: 3_600_000, maxSkewMs: 60_000 };

export interface EngineDeps {
  store: Store;
  sink: EventSink;
  clock: Clock;
  ids: TsidGenerator;
  limits: EngineLimits;
  metrics?: Metrics;
  invalidation: InvalidationBus;
  onError: (err: unknown, context: string) => void;
  /** A warning for operators (the fan-out queue near its bound). Default: none. */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
  /** Progress-report windows shared by every process (Redis); without it each process limits on its own. */
  progressWindows?: InteractionServiceDeps['sharedWindows'];
  /** Spans of actor turns (telemetry/tracing.ts). Default: off. */
  tracing?: Tracing;
  /** Reads tag searches; one per process (its Chinese dictionary loads on first use). Default: a new one. */
  tags?: TagTokenizer;
  /** Which of `authorIds` a For You subject blocked (see Recommendations). Default: the Store's blocks. */
  blocked?: (subject: string, authorIds: readonly string[]) => Promise<boolean[]>;
  /** The behaviour log's analytics (ClickHouse); without it, analytics come from the counters. */
  analytics?: AnalyticsSource;
  /** Inbox, blocks, mentions and moderation bounds. Default: DEFAULT_SOCIAL_LIMITS. */
  social?: SocialLimits;
  /** The sensitive-word filter for handles, titles, descriptions, comments and OCR text. Absent: none. */
  contentFilter?: ContentFilter;
}

/** Who asks for a For You page: a signed-in user, or an anonymous session the client keeps. */
export type ForYouViewer = { userId: string } | { sessionId: string };

/** A For You page: videos, and why each is shown (same order). */
export type ForYouPage = VideoPage & { readonly reasons: readonly string[] };

/** An anonymous session id: what the client keeps between pages. */
export const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** What a reader gets, plus whether it came from cache while storage was failing. */
export interface Read<T> {
  value: T;
  degraded: boolean;
}

export interface WatchResult {
  snapshot: { counters: Counters; version: number; offset: number; epoch: string; latestComments: Comment[]; likedByMe: boolean };
  /** With `sinceOffset`: the events after it, in order, when the log still reaches back. */
  events?: VideoEvent[];
  recovered?: boolean;
}

const LATEST_COMMENTS = 20;
/** Most ids one bulk read of videos may ask for. */
export const MAX_BULK_VIDEOS = 500;
/** A tag search of several words reads tag indexes in chunks of this many ids... */
const TAG_SCAN_CHUNK = 50;
/** ...and looks at most at this many videos per request (the page may then be short: follow its cursor). */
const TAG_SCAN_MAX = 500;

/** An account's id and password hash (scrypt, see transport/auth/passwords.ts), for logins only. */
export interface Credentials {
  userId: string;
  passwordHash: string;
}

/** Who viewed a video: a signed-in user, or an anonymous viewer known by a key. */
export type Viewer = { userId: string } | { anonymousKey: string };

export class Engine {
  readonly feed: FeedService;
  readonly recommendations: Recommendations;
  /** Direct messages (conversations.ts). */
  readonly dm: ConversationService;
  /**
   * The behaviour log: client reports (watch progress, impressions), its reading side for
   * backend consumers (`read`), and `onRecorded` for in-process listeners (the For You feed).
   */
  readonly interactions: InteractionService;
  /** The inbox, blocks, mentions and moderation (social.ts). */
  readonly social: Social;
  private readonly actors: ActorSystem;
  private readonly reads: ReadModel;
  private readonly invalidations: Invalidations;
  private readonly hotScores: HotScores;
  private readonly tags: TagTokenizer;
  private readonly earlySkips: EarlySkips;
  private readonly videoListeners = new Set<(videoId: string) => void>();

  constructor(private readonly deps: EngineDeps) {
    const { store, sink, clock, ids, limits, metrics } = deps;
    this.tags = deps.tags ?? new TagTokenizer();
    this.interactions = new InteractionService({
      store,
      clock,
      ids,
      limits: limits.reports ?? DEFAULT_REPORT_LIMITS,
      onError: deps.onError,
      ...(deps.progressWindows ? { sharedWindows: deps.progressWindows } : {}),
    });
    this.actors = new ActorSystem(clock, limits.actors, {
      ...(metrics ? { metrics } : {}),
      ...(deps.tracing ? { tracing: deps.tracing } : {}),
      onError: ({ kind, id, phase, batchSize, error }) => deps.onError(error, `actor ${kind} ${id}: ${phase} of ${batchSize} message(s) failed`),
    });
    this.reads = new ReadModel({
      store,
      clock,
      cache: limits.cache,
      ...(metrics ? { metrics: metrics.cache } : {}),
      followingPage: (userId, page) => this.feed.following(userId, page),
      visible: (videos, viewerId) => this.social.visibleVideos(videos, viewerId),
    });
    this.invalidations = new Invalidations(deps.invalidation, (change, source) => this.dropLocal(change, source));
    this.hotScores = new HotScores({ feeds: store.feeds, clock, onError: deps.onError });
    this.social = new Social({
      store,
      sink,
      clock,
      ids,
      actors: this.actors,
      limits: deps.social ?? DEFAULT_SOCIAL_LIMITS,
      ...(deps.contentFilter ? { filter: deps.contentFilter } : {}),
      onError: deps.onError,
    });
    // actors publish through the inbox router: every notification also lands in its recipient's inbox
    const actorSink = this.social.router;
    this.actors.register(
      VIDEO_ACTOR,
      videoActor({
        store,
        sink: actorSink,
        clock,
        ids,
        readStaleMs: limits.readStaleMs,
        onCountersChanged: (video, counters) => {
          // the actor holds the new state: only copies elsewhere (and other processes' actors) are stale
          this.invalidations.changed({ kind: 'video', videoId: video.id }, 'actor');
          this.hotScores.changed(video, counters);
        },
      }),
    );
    this.actors.register(
      USER_ACTOR,
      userActor({ store, sink: actorSink, clock, onFollowsChanged: (userIds) => userIds.forEach((userId) => this.invalidations.changed({ kind: 'user', userId })) }),
    );
    const dmLimits: DmLimits = { ...DEFAULT_DM_LIMITS, ...limits.dm };
    this.actors.register(
      CONVERSATION_ACTOR,
      conversationActor({ store, sink, clock, readStaleMs: limits.readStaleMs, deleteWindowMs: dmLimits.deleteWindowMs }),
    );
    this.dm = new ConversationService({
      store,
      sink,
      clock,
      actors: this.actors,
      limits: dmLimits,
      userExists: (userId) => this.userExists(userId),
      videoExists: async (videoId) => (await this.reads.video(videoId)).value !== null,
      ...(deps.contentFilter ? { contentFilter: deps.contentFilter } : {}),
    });
    this.actors.register(FAVORITES_ACTOR, favoritesActor({ store, sink: actorSink, ids }));
    this.feed = new FeedService({
      store,
      sink,
      clock,
      options: limits.feed,
      ...(metrics ? { metrics: metrics.fanout } : {}),
      ...(deps.onWarning ? { onWarning: deps.onWarning } : {}),
      followerCount: async (id) => (await this.reads.profile(id)).value?.followers ?? 0,
      existing: async (videoIds) => (await this.reads.videos(videoIds)).map((r) => r.value !== null),
      onError: deps.onError,
      // one message per fan-out batch tells every process to drop these readers' kept pages
      onInboxesChanged: (userIds) => this.invalidations.changed({ kind: 'inboxes', userIds }),
      ...(deps.tracing ? { tracing: deps.tracing } : {}),
    });
    // fan-out queued by other processes, or left by a dead one, is taken from the start
    this.feed.start();
    this.recommendations = new Recommendations({
      store,
      clock,
      options: limits.recommendations,
      videos: async (ids) => (await this.reads.videos(ids)).map((r) => r.value),
      following: async (userId, limit) => (await this.feed.following(userId, { limit })).items,
      // an anonymous session (`~s:...`) blocks nobody; a user's blocks are the social Store's,
      // read whole (at most BLOCKS_MAX ids) in one call rather than one call per candidate
      blocked:
        deps.blocked ??
        (async (subject, authorIds) => {
          if (subject.startsWith('~')) return authorIds.map(() => false);
          const blocked = new Set(await store.blocks.allBlocked(subject));
          return authorIds.map((a) => blocked.has(a));
        }),
      onError: deps.onError,
      ...(metrics ? { onSignalShed: () => metrics.forYouSignalsShed.inc() } : {}),
      ...(deps.onWarning ? { onWarning: deps.onWarning } : {}),
    });
    // a finished watch teaches the For You feed at once; a short, unfinished one may be a skip,
    // which only the absence of a follow-up report tells (early-skips.ts)
    const skipOptions = limits.recommendations.earlySkips ?? DEFAULT_EARLY_SKIPS;
    this.earlySkips = new EarlySkips({
      clock,
      options: { ...skipOptions, windowMs: 2 * (limits.reports ?? DEFAULT_REPORT_LIMITS).progressIntervalMs },
      engaged: async (subject, videoId) => {
        const [liked, recent] = await Promise.all([
          subject.startsWith('~') ? [false] : store.videos.likedByUser(subject, [videoId]),
          store.recommendations.engaged(subject, limits.recommendations.limits.engagedMax),
        ]);
        return liked[0] === true || recent.includes(videoId);
      },
      skip: (subject, videoId) => this.recommendations.recordSignal(subject, videoId, 'skip'),
      onError: deps.onError,
      ...(metrics ? { onOutcome: (outcome) => metrics.forYouSkipChecks.inc({ outcome }) } : {}),
    });
    this.interactions.onRecorded((events) => {
      for (const e of events) {
        if (e.type !== 'watch') continue;
        // anonymous viewers learn only under a For You session id (a socket's address key is not one)
        if (e.userId === undefined && !SESSION_ID.test(e.sessionId ?? '')) continue;
        const viewer = e.userId !== undefined ? { userId: e.userId } : { sessionId: e.sessionId ?? '' };
        this.earlySkips.observe(subjectOf(viewer), e);
        // a finish of an unknown video learns nothing (the learner skips videos it cannot read)
        if (e.completed) this.learnLater(subjectOf(viewer), e.videoId, 'finish');
      }
    });
  }

  newId(): string {
    return this.deps.ids.next();
  }

  // ------------------------------------------------------------ users

  /** Creates an account record; the password hash comes from the auth module. */
  async createUser(input: { handle: string; passwordHash: string; displayName?: string }): Promise<UserProfile> {
    const record: UserRecord = {
      id: this.deps.ids.next(),
      handle: this.social.handle(input.handle),
      displayName:
        input.displayName === undefined ? input.handle : this.social.text('displayName', requireText('displayName', input.displayName, { min: 1, max: 64 })),
      bio: '',
      createdAt: new Date(this.deps.clock.now()).toISOString(),
      passwordHash: input.passwordHash,
    };
    await this.deps.store.users.create(record);
    this.invalidations.changed({ kind: 'user', userId: record.id });
    const { passwordHash: _secret, ...rest } = record;
    return { ...rest, followers: 0, following: 0, videos: 0 };
  }

  /**
   * What a login checks a password against: the account of `handle` (case-insensitive)
   * and its password hash; null when no account has that handle. Never cached: a changed
   * password counts at once.
   */
  async credentials(handle: string): Promise<Credentials | null> {
    const record = await this.deps.store.users.getByHandle(handle);
    return record ? { userId: record.id, passwordHash: record.passwordHash } : null;
  }

  /** Whether `userId` is a well-formed id of an existing account (cached, as profiles are). */
  async userExists(userId: string): Promise<boolean> {
    if (!isTsid(userId)) return false;
    return (await this.reads.profile(userId)).value !== null;
  }

  async profile(userId: string): Promise<Read<UserProfile>> {
    requireId('userId', userId);
    const r = await this.reads.profile(userId);
    if (!r.value) throw new TremoloError('E_USER_NOT_FOUND');
    return { value: r.value, degraded: r.degraded };
  }

  async follow(userId: string, targetId: string): Promise<UserReply> {
    requireId('userId', userId);
    requireId('userId', targetId);
    return this.actors.ask(USER_ACTOR, userId, { type: 'follow', targetId });
  }

  async unfollow(userId: string, targetId: string): Promise<UserReply> {
    requireId('userId', userId);
    requireId('userId', targetId);
    return this.actors.ask(USER_ACTOR, userId, { type: 'unfollow', targetId });
  }

  async followers(userId: string, page: PageRequest): Promise<Page<string>> {
    await this.profile(userId);
    return this.deps.store.users.followers(userId, page);
  }

  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    await this.profile(userId);
    return this.deps.store.users.following(userId, page);
  }

  async userVideos(userId: string, page: PageRequest, viewerId?: string): Promise<VideoPage> {
    await this.profile(userId);
    const before = page.cursor ? decodeCursorId(page.cursor) : undefined;
    const ids = await this.deps.store.feeds.outbox(userId, before, page.limit + 1);
    return this.pageOfVideos(ids, page.limit, viewerId);
  }

  // ------------------------------------------------------------ videos

  /** `trace`: the request's (or job's) context, which the post's fan-out continues in whichever process runs it. */
  async createVideo(ownerId: string, input: { title: unknown; description?: unknown; media?: MediaRefs }, trace?: TraceContext): Promise<Video> {
    const title = this.social.text('title', requireText('title', input.title, { min: 1, max: this.deps.limits.titleMaxChars }));
    const description = this.social.text(
      'description',
      input.description === undefined ? '' : requireText('description', input.description, { min: 0, max: this.deps.limits.descriptionMaxChars }),
    );
    const owner = await this.profile(ownerId);
    const mentions = await this.social.mentions(ownerId, description);
    await this.feed.admit(); // a full fan-out queue refuses the post before anything is written
    const record: VideoRecord = {
      id: this.deps.ids.next(),
      ownerId: owner.value.id,
      title,
      description,
      createdAt: new Date(this.deps.clock.now()).toISOString(),
      media: input.media ?? {},
      ...(mentions.length ? { mentions } : {}),
    };
    const state: VideoState = await this.deps.store.videos.create(record);
    try {
      // the video and the queue live in different slots: queued right after the write, and
      // a post whose fan-out cannot be queued is refused (taken back), never left unfanned
      await this.feed.publish(record, trace);
    } catch (err) {
      await this.deps.store.videos.delete(record.id).catch((e: unknown) => this.deps.onError(e, `taking back video ${record.id} whose fan-out was refused`));
      throw err;
    }
    this.reads.keepVideo(state);
    this.invalidations.changed({ kind: 'user', userId: ownerId });
    await this.hotScores.created(record, state.counters);
    await this.recommendations.published(record.id);
    this.social.notifyMentions(ownerId, mentions, { videoId: record.id, text: description });
    return { ...state.video, counters: state.counters };
  }

  async getVideo(videoId: string, viewerId?: string): Promise<Read<Video>> {
    requireId('videoId', videoId);
    const r = await this.reads.video(videoId);
    if (!r.value) throw new TremoloError('E_VIDEO_NOT_FOUND');
    // a hidden video is gone for everyone but its owner
    if (r.value.video.ownerId !== viewerId && !r.degraded && (await this.social.isHidden({ type: 'video', id: videoId }))) throw new TremoloError('E_VIDEO_NOT_FOUND');
    const video: Video = { ...r.value.video, counters: r.value.counters };
    if (viewerId !== undefined && !r.degraded) {
      video.likedByMe = (await this.deps.store.videos.likedByUser(viewerId, [videoId]))[0] ?? false;
    }
    return { value: video, degraded: r.degraded };
  }

  /** Deletes the owner's video with its likes, comments and events; resolves with what was deleted. */
  async deleteVideo(videoId: string, userId: string): Promise<Video> {
    const { value } = await this.getVideo(videoId);
    if (value.ownerId !== userId) throw new TremoloError('E_FORBIDDEN', 'Only the owner can delete a video');
    await this.deps.store.videos.delete(videoId);
    await this.hotScores.removed(videoId);
    await this.recommendations.removed(videoId);
    this.invalidations.changed({ kind: 'video', videoId });
    this.invalidations.changed({ kind: 'user', userId });
    this.deps.sink.publish({ type: 'video:deleted', videoId });
    return value;
  }

  async like(videoId: string, userId: string): Promise<LikeReply> {
    requireId('userId', userId);
    const reply = await this.videoWrite(videoId, { type: 'like', userId });
    this.earlySkips.cancel(userId, videoId);
    if (reply.changed) this.learnLater(userId, videoId, 'like');
    return reply;
  }

  async unlike(videoId: string, userId: string): Promise<LikeReply> {
    requireId('userId', userId);
    const reply = await this.videoWrite(videoId, { type: 'unlike', userId });
    if (reply.changed) this.learnLater(userId, videoId, 'unlike');
    return reply;
  }

  /**
   * Counts a view. Repeats by one viewer within VIEW_DEDUP_S count once: a signed-in viewer
   * is its user id; an anonymous one a key the transport derives (e.g. from its address).
   */
  async view(videoId: string, viewer: Viewer): Promise<ViewReply> {
    let viewerId: string;
    if ('userId' in viewer) {
      requireId('userId', viewer.userId);
      viewerId = viewer.userId;
    } else {
      // never a TSID, so an anonymous viewer cannot stand in for a user
      viewerId = `~${viewer.anonymousKey}`;
    }
    const reply = await this.videoWrite(videoId, { type: 'view', viewerId });
    if ('userId' in viewer && reply.counted) this.learnLater(viewer.userId, videoId, 'view');
    return reply;
  }

  /**
   * Teaches the For You feed what a viewer did with a video: the entry point for watch events
   * (`finish`, `skip`) as well as likes and views. The viewer's next page reflects it. Fails with
   * E_VIDEO_NOT_FOUND for an unknown video; a bad viewer or kind is E_VALIDATION.
   */
  async recordSignal(viewer: ForYouViewer, videoId: string, kind: SignalKind): Promise<void> {
    requireId('videoId', videoId);
    if (!SIGNAL_KINDS.includes(kind)) throw new TremoloError('E_VALIDATION', `signal must be one of ${SIGNAL_KINDS.join(', ')}`, { details: { field: 'signal' } });
    if ((await this.reads.video(videoId)).value === null) throw new TremoloError('E_VIDEO_NOT_FOUND');
    await this.recommendations.recordSignal(subjectOf(viewer), videoId, kind);
  }

  /**
   * The For You feed of a user or an anonymous session: ranked candidates, each with its
   * reason, never a video the viewer was already shown (see actors/recommendations.ts).
   */
  async forYouFeed(viewer: ForYouViewer, page: PageRequest): Promise<ForYouPage> {
    const subject = subjectOf(viewer);
    const userId = 'userId' in viewer ? viewer.userId : undefined;
    const found = await this.recommendations.page(subject, userId, page);
    const view = await this.reads.videoPage(
      found.items.map((i) => i.videoId),
      found.nextCursor,
      userId,
    );
    // a video deleted between ranking and reading is left out of the page, with its reason
    const reasonOf = new Map(found.items.map((i) => [i.videoId, i.reason]));
    return Object.freeze({ ...view, reasons: view.items.map((v) => reasonOf.get(v.id) ?? 'trending') });
  }

  /**
   * A signal from a write that already succeeded, learned off its ack path (learner.ts): the
   * ack never waits for learning, and a failure to learn is reported, never the write's failure.
   */
  private learnLater(subject: string, videoId: string, kind: SignalKind): void {
    this.recommendations.offerSignal(subject, videoId, kind);
  }

  async addComment(videoId: string, authorId: string, input: { text: unknown; replyTo?: unknown; idempotencyKey?: unknown }): Promise<CommentReply> {
    requireId('userId', authorId);
    const text = this.social.text('text', requireText('text', input.text, { min: 1, max: this.deps.limits.commentMaxChars }));
    if (input.replyTo !== undefined && (typeof input.replyTo !== 'string' || !input.replyTo.startsWith(`${videoId}-`))) {
      throw new TremoloError('E_REPLY_TARGET');
    }
    const mentions = await this.commentChecks(videoId, authorId, text, input.replyTo);
    const key = input.idempotencyKey ?? randomUUID();
    if (typeof key !== 'string' || key.length < 1 || key.length > 128) {
      throw new TremoloError('E_VALIDATION', 'idempotencyKey must be a string of 1 to 128 characters', { details: { field: 'idempotencyKey' } });
    }
    const reply = await this.videoWrite(videoId, {
      type: 'comment',
      authorId,
      text,
      idempotencyKey: key,
      ...(input.replyTo !== undefined ? { replyTo: input.replyTo as string } : {}),
      ...(mentions.length ? { mentions } : {}),
    });
    if (!reply.duplicate) this.social.notifyMentions(authorId, mentions, { videoId, commentId: reply.comment.id, text });
    return reply;
  }

  /**
   * What a comment must pass besides its text: its video is visible, neither the video's owner
   * nor the author of the comment it replies to blocks the author, and every user it mentions
   * accepts mentions from the author. Resolves with the mentions.
   */
  private async commentChecks(videoId: string, authorId: string, text: string, replyTo: unknown) {
    requireId('videoId', videoId);
    const video = (await this.reads.video(videoId)).value?.video;
    if (!video) throw new TremoloError('E_VIDEO_NOT_FOUND');
    const [hidden, , mentions] = await Promise.all([
      video.ownerId === authorId ? false : this.social.isHidden({ type: 'video', id: videoId }),
      this.social.refuseBlocked(video.ownerId, authorId),
      this.social.mentions(authorId, text),
      typeof replyTo === 'string'
        ? this.deps.store.moderation.commentAuthor(replyTo).then((repliedTo) => (repliedTo === null ? undefined : this.social.refuseBlocked(repliedTo, authorId)))
        : undefined,
    ]);
    if (hidden) throw new TremoloError('E_VIDEO_NOT_FOUND');
    return mentions;
  }

  /**
   * Stores a video's tags (from the media pipeline) and drops cached copies everywhere. Tags
   * are normalised and every list capped (`boundTagging`).
   */
  async setTagging(videoId: string, tagging: TagInfo): Promise<void> {
    requireId('videoId', videoId);
    await this.deps.store.videos.setTagging(videoId, this.filterTagging(boundTagging(tagging)));
    this.invalidations.changed({ kind: 'video', videoId });
  }

  async deleteComment(commentId: string, userId: string): Promise<DeleteCommentReply> {
    requireId('userId', userId);
    const videoId = videoOfComment(commentId);
    return this.videoWrite(videoId, { type: 'deleteComment', commentId, userId });
  }

  /**
   * Videos by id for bulk readers (GetVideos): the ones that exist, in the order asked, as
   * `viewerId` sees them; at most MAX_BULK_VIDEOS ids.
   */
  async videosByIds(videoIds: readonly string[], viewerId?: string): Promise<VideoPage> {
    if (videoIds.length > MAX_BULK_VIDEOS) {
      throw new TremoloError('E_VALIDATION', `ids must hold at most ${MAX_BULK_VIDEOS} video ids`, { details: { field: 'ids' } });
    }
    for (const id of videoIds) requireId('videoId', id);
    if (viewerId !== undefined) requireId('userId', viewerId);
    return this.reads.videoPage(videoIds, undefined, viewerId);
  }

  /**
   * Events of a video's log after `sinceOffset`, oldest first, at most `limit` (a log
   * follower's read: WatchVideo). `complete: false` when the log no longer reaches back.
   */
  async videoEvents(videoId: string, sinceOffset: number, limit: number): Promise<EventRange> {
    requireId('videoId', videoId);
    return this.deps.store.videos.events(videoId, sinceOffset, limit);
  }

  /**
   * Calls `listener` with the id of every video that changed, here or in another process
   * (after the change is durable); returns what stops it. Log followers use it to read on.
   */
  onVideoChanged(listener: (videoId: string) => void): () => void {
    this.videoListeners.add(listener);
    return () => this.videoListeners.delete(listener);
  }

  /** A page of comments; hidden ones, and for a signed-in viewer those of users they block, are left out (the page may be short). */
  async comments(videoId: string, order: CommentOrder, page: PageRequest, viewerId?: string): Promise<Page<Comment>> {
    requireId('videoId', videoId);
    const found = await this.deps.store.videos.comments(videoId, order, page);
    return { ...found, items: await this.social.visibleComments(found.items, viewerId) };
  }

  // ------------------------------------------------------------ comment threads, comment likes, pin

  /** Likes a comment (idempotent); its author is notified of new likes. */
  async likeComment(commentId: string, userId: string): Promise<CommentLikeReply> {
    requireId('userId', userId);
    return this.videoWrite(videoOfComment(commentId), { type: 'likeComment', commentId, userId });
  }

  async unlikeComment(commentId: string, userId: string): Promise<CommentLikeReply> {
    requireId('userId', userId);
    return this.videoWrite(videoOfComment(commentId), { type: 'unlikeComment', commentId, userId });
  }

  /** The video's owner pins a top-level comment of it, or unpins (`commentId` null). */
  async pinComment(videoId: string, commentId: string | null, userId: string): Promise<PinReply> {
    requireId('userId', userId);
    if (commentId !== null && videoOfComment(commentId) !== videoId) throw new TremoloError('E_COMMENT_NOT_FOUND');
    return this.videoWrite(videoId, { type: 'pinComment', commentId, userId });
  }

  /** Top-level comments with their counts; the pinned one leads the first page. */
  async commentThreads(videoId: string, order: ThreadOrder, page: PageRequest, viewerId?: string): Promise<Page<CommentView>> {
    requireId('videoId', videoId);
    if (order !== 'newest' && order !== 'top') throw new TremoloError('E_VALIDATION', 'order must be newest or top', { details: { field: 'order' } });
    return this.deps.store.comments.threads(videoId, order, { ...page, ...(viewerId !== undefined ? { viewerId } : {}) }, { now: this.deps.clock.now() });
  }

  /** A thread's replies, oldest first. */
  async commentReplies(commentId: string, page: PageRequest, viewerId?: string): Promise<Page<CommentView>> {
    const videoId = videoOfComment(commentId);
    return this.deps.store.comments.replies(videoId, commentId, { ...page, ...(viewerId !== undefined ? { viewerId } : {}) });
  }

  // ------------------------------------------------------------ favorites

  /** Saves a video to the user's favorites (idempotent); the owner is notified of a new one. */
  async favorite(videoId: string, userId: string): Promise<FavoriteReply> {
    requireId('userId', userId);
    const { value } = await this.getVideo(videoId);
    return this.actors.ask(FAVORITES_ACTOR, userId, { type: 'favorite', videoId, ownerId: value.ownerId });
  }

  /** A video's favorite count, and with a viewer whether they keep it. */
  async favoriteState(videoId: string, viewerId?: string): Promise<{ videoId: string; favorites: number; favoritedByMe?: boolean }> {
    await this.getVideo(videoId);
    const { favorites } = this.deps.store;
    const [count, mine] = await Promise.all([favorites.counts([videoId]), viewerId === undefined ? undefined : favorites.favoritedBy(viewerId, [videoId])]);
    return { videoId, favorites: count[0] ?? 0, ...(mine ? { favoritedByMe: mine[0] ?? false } : {}) };
  }

  /** Takes a video out of the user's favorites (idempotent; works for a deleted video too). */
  async unfavorite(videoId: string, userId: string): Promise<FavoriteReply> {
    requireId('userId', userId);
    requireId('videoId', videoId);
    return this.actors.ask(FAVORITES_ACTOR, userId, { type: 'unfavorite', videoId });
  }

  /**
   * A user's favorites, latest saved first. Private unless the owner made the list public:
   * anyone else gets E_FAVORITES_PRIVATE.
   */
  async favorites(userId: string, page: PageRequest, viewerId?: string): Promise<VideoPage> {
    await this.profile(userId);
    if (viewerId !== userId && !(await this.deps.store.favorites.isPublic(userId))) throw new TremoloError('E_FAVORITES_PRIVATE');
    const ids = await this.deps.store.favorites.list(userId, page);
    // deleted videos drop out of the page (which may then be short: follow its cursor)
    return this.reads.videoPage(ids.items, ids.nextCursor, viewerId);
  }

  /** The user's own settings. */
  async settings(userId: string): Promise<{ favoritesPublic: boolean }> {
    await this.profile(userId);
    return { favoritesPublic: await this.deps.store.favorites.isPublic(userId) };
  }

  async updateSettings(userId: string, input: { favoritesPublic?: unknown }): Promise<{ favoritesPublic: boolean }> {
    await this.profile(userId);
    if (input.favoritesPublic !== undefined) {
      if (typeof input.favoritesPublic !== 'boolean') {
        throw new TremoloError('E_VALIDATION', 'favoritesPublic must be a boolean', { details: { field: 'favoritesPublic' } });
      }
      await this.deps.store.favorites.setPublic(userId, input.favoritesPublic);
    }
    return this.settings(userId);
  }

  /** Counters from the video's actor (fresh within ACTOR_READ_STALE_MS). */
  async snapshot(videoId: string): Promise<VideoSnapshot> {
    requireId('videoId', videoId);
    return this.actors.ask(VIDEO_ACTOR, videoId, { type: 'read' });
  }

  /**
   * What a watcher needs: a snapshot, and with `sinceOffset` the events it missed, in
   * order, or `recovered: false` when the log no longer reaches back (or the epoch changed).
   */
  async watch(videoId: string, opts: { userId?: string; sinceOffset?: number; epoch?: string }): Promise<WatchResult> {
    requireId('videoId', videoId);
    const { store } = this.deps;
    const snapshot = async () => this.snapshotFor(videoId, await this.snapshot(videoId), opts.userId);
    if (opts.sinceOffset === undefined) return { snapshot: await snapshot() };
    const range = await store.videos.events(videoId, opts.sinceOffset, this.deps.limits.actors.maxBatch * 4);
    const sameEpoch = opts.epoch === undefined || opts.epoch === range.epoch;
    const reachesHead = (range.events.at(-1)?.offset ?? opts.sinceOffset) === range.head;
    if (range.complete && sameEpoch && reachesHead) return { snapshot: await snapshot(), events: range.events, recovered: true };
    return { snapshot: await snapshot(), recovered: false };
  }

  /**
   * Videos carrying a tag, newest first. The query is read by the tagger's own rules (`#Travel`
   * is `travel`); a query of several words finds the videos tagged with it whole (a hashtag,
   * `no-audio`) and those carrying every word of it (`美食探店第3期`: 美食, 探店 and 第3期).
   */
  async byTag(tag: string, page: PageRequest, viewerId?: string): Promise<VideoPage> {
    const { key, words } = this.tags.query(tag);
    if (words.length === 0 || (words.length === 1 && words[0] === key)) {
      const ids = await this.deps.store.videos.byTag(key, { cursor: page.cursor, limit: page.limit });
      return this.visible(await this.reads.videoPage(ids.items, ids.nextCursor, viewerId), viewerId);
    }
    // Walk the whole key's index and the index of the longest word (likely the rarest) side by
    // side, newest first; a video of the word's index counts when it carries every word.
    const [longest] = [...words].sort((a, b) => [...b].length - [...a].length);
    const streams = [
      this.scanTag(key, page.cursor, () => true),
      this.scanTag(longest!, page.cursor, (tags) => words.every((w) => tags.includes(w))),
    ];
    const heads = await Promise.all(streams.map((s) => s.next()));
    const found: string[] = [];
    let last: string | undefined;
    for (let scanned = 0; ; scanned++) {
      let next: string | undefined;
      for (const h of heads) if (!h.done && (next === undefined || h.value.id > next)) next = h.value.id;
      if (next === undefined) return this.visible(await this.reads.videoPage(found, undefined, viewerId), viewerId);
      // bounded work per request: the page may be short, its cursor goes on from here
      if (found.length === page.limit || scanned === TAG_SCAN_MAX) return this.visible(await this.reads.videoPage(found, encodeCursor(last!), viewerId), viewerId);
      let match = false;
      for (const [i, stream] of streams.entries()) {
        for (let h = heads[i]!; !h.done && h.value.id === next; h = heads[i]!) {
          match ||= h.value.match;
          heads[i] = await stream.next();
        }
      }
      if (match) found.push(next);
      last = next;
    }
  }

  /** The ids of a tag's index from `cursor` on, newest first, each with whether `match` holds for its video's tags. */
  private async *scanTag(tag: string, cursor: string | undefined, match: (tags: readonly string[]) => boolean): AsyncGenerator<{ id: string; match: boolean }> {
    for (;;) {
      const chunk = await this.deps.store.videos.byTag(tag, { cursor, limit: TAG_SCAN_CHUNK });
      const states = await this.reads.videos(chunk.items);
      for (const [i, id] of chunk.items.entries()) {
        const tags = states[i]?.value?.video.tagging?.tags;
        yield { id, match: tags !== undefined && match(tags) };
      }
      if (chunk.nextCursor === undefined) return;
      cursor = chunk.nextCursor;
    }
  }

  /**
   * A video's analytics for its owner (E_FORBIDDEN for anyone else): per bucket from the
   * behaviour log when one is configured, else the lifetime counters (`source: "counters"`).
   */
  async videoAnalytics(videoId: string, userId: string, query: AnalyticsQuery): Promise<VideoAnalytics> {
    requireId('userId', userId);
    const window = analyticsWindow(query, this.deps.clock);
    const { value } = await this.getVideo(videoId);
    if (value.ownerId !== userId) throw new TremoloError('E_FORBIDDEN', 'Only the owner sees a video\'s analytics');
    const span = { videoId, bucket: window.bucket, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() };
    const source = this.deps.analytics;
    if (!source) {
      const { views, likes, comments } = value.counters;
      return { ...span, source: 'counters', totals: { views, likes, comments }, buckets: [] };
    }
    let buckets;
    try {
      buckets = await source.videoAnalytics(videoId, value.ownerId, window.from, window.to, window.bucket);
    } catch (err) {
      if (err instanceof TremoloError) throw err;
      throw new TremoloError('E_STORAGE_UNAVAILABLE', 'The behaviour log is unavailable; retry later', { cause: err, retryAfter: 5 });
    }
    return { ...span, source: 'clickhouse', totals: totalsOf(buckets), buckets: buckets.map(bucketIso) };
  }

  // ------------------------------------------------------------ blocks and moderation (the rules live in social.ts)

  /** `userId` blocks `targetId` (an existing user); follows between them end both ways. */
  block(userId: string, targetId: string): Promise<{ changed: boolean }> {
    return this.changeBlock(userId, targetId, (u, t) => this.social.block(u, t));
  }

  unblock(userId: string, targetId: string): Promise<{ changed: boolean }> {
    return this.changeBlock(userId, targetId, (u, t) => this.social.unblock(u, t));
  }

  private async changeBlock(userId: string, targetId: string, write: (userId: string, targetId: string) => Promise<{ changed: boolean }>): Promise<{ changed: boolean }> {
    requireId('userId', userId);
    await this.profile(targetId);
    try {
      return await write(userId, targetId);
    } finally {
      // the blocker's kept feed pages are filtered by their blocks (also when the write failed half way)
      this.invalidations.changed({ kind: 'user', userId });
    }
  }

  /** Files a report on an existing video, comment or user (deduplicated per reporter while open). */
  async report(reporterId: string, target: ModerationTarget, reason: unknown) {
    requireId('userId', reporterId);
    await this.about(target);
    return this.social.report(reporterId, target, reason);
  }

  /** An operator hides a video or a comment (reason recorded, author told, watchers drop it live). */
  async hide(actor: Actor, target: ModerationTarget, reason: unknown): Promise<{ changed: boolean }> {
    if (target.type === 'user') throw new TremoloError('E_VALIDATION', 'Only videos and comments can be hidden', { details: { field: 'target' } });
    this.social.requireAdmin(actor);
    const r = await this.social.hide(actor, target, await this.about(target), reason);
    this.invalidations.changed({ kind: 'video', videoId: target.type === 'video' ? target.id : videoOfComment(target.id) });
    return r;
  }

  /** An operator restores a hidden video or comment (its author is told). */
  async restore(actor: Actor, target: ModerationTarget): Promise<{ changed: boolean }> {
    if (target.type === 'user') throw new TremoloError('E_VALIDATION', 'Only videos and comments can be restored', { details: { field: 'target' } });
    this.social.requireAdmin(actor);
    const r = await this.social.restore(actor, target, await this.about(target));
    this.invalidations.changed({ kind: 'video', videoId: target.type === 'video' ? target.id : videoOfComment(target.id) });
    return r;
  }

  /** The video and the author of a target (E_*_NOT_FOUND when there is none); hidden ones count. */
  private async about(target: ModerationTarget): Promise<{ videoId: string; authorId: string }> {
    switch (target.type) {
      case 'video': {
        requireId('videoId', target.id);
        const r = await this.reads.video(target.id);
        if (!r.value) throw new TremoloError('E_VIDEO_NOT_FOUND');
        return { videoId: target.id, authorId: r.value.video.ownerId };
      }
      case 'comment': {
        const videoId = videoOfComment(target.id);
        const authorId = await this.deps.store.moderation.commentAuthor(target.id);
        if (authorId === null) throw new TremoloError('E_COMMENT_NOT_FOUND');
        return { videoId, authorId };
      }
      case 'user':
        await this.profile(target.id);
        return { videoId: '', authorId: target.id };
    }
  }

  // ------------------------------------------------------------ feeds

  /**
   * The following feed's page when the read model keeps it (most reads repeat one), at once; undefined
   * when it must be read (`followingFeed`). Lets the route answer without a promise.
   */
  keptFollowingFeed(userId: string, page: PageRequest): VideoPage | undefined {
    return this.reads.keptFollowingFeed(userId, page);
  }

  /**
   * The following feed, cached at two levels. Its page of ids is cached per (user, cursor,
   * limit): building it merges the inbox with every pulled author's outbox, the expensive part.
   * The finished page is kept too, tagged with its reader and each of its videos, and dropped
   * when any of them changes (a like, a comment, a view, an edit, a delete, here or in another
   * process): readers see fresh counters, and a repeat read costs one lookup. A user's pages
   * go when their follows change or a post is fanned out to them, by any process.
   */
  async followingFeed(userId: string, page: PageRequest): Promise<VideoPage> {
    // kept already filtered for the reader (hidden videos, blocked authors): see ReadModel
    return this.reads.followingFeed(userId, page);
  }

  /**
   * The hot feed. Its cursor is the last video's place in the ranking (score and id), not a
   * position: likes landing between pages move videos up, and a video shown on an earlier
   * page, now ranked higher, stays above the boundary instead of sliding onto the next page.
   * (A score only falls with an unlike or a deleted comment; only then could a shown video
   * cross the boundary downwards.)
   */
  async hotFeed(page: PageRequest, viewerId?: string): Promise<VideoPage> {
    const after = decodeHotCursor(page.cursor);
    const found = await this.deps.store.feeds.hotAfter(after, page.limit + 1);
    const shown = found.slice(0, page.limit);
    const last = shown[shown.length - 1];
    const next = found.length > page.limit && last ? encodeCursor(`${last.score}|${last.id}`) : undefined;
    // hidden videos and those of authors the viewer blocks are left out (the page may be short)
    return this.visible(
      await this.reads.videoPage(
        shown.map((p) => p.id),
        next,
        viewerId,
      ),
      viewerId,
    );
  }

  /** Stops claiming fan-out (what is left waits in storage), flushes hot scores and stops the actors. */
  async shutdown(timeoutMs: number): Promise<void> {
    await this.earlySkips.close();
    await this.actors.drainAll(timeoutMs);
    // the drained turns' signals are learned before the store goes
    await this.recommendations.drain();
    // the page in flight finishes; the rest of its fan-out is given back to the queue
    await this.feed.stop();
    await this.hotScores.close();
    await this.invalidations.close();
  }

  /** Writes pending hot-score updates now (normally batched once a second). */
  flushHotScores(): Promise<void> {
    return this.hotScores.flush();
  }

  // ------------------------------------------------------------ internals

  /** Only for async callers: a bad id throws here, which their async frame turns into a rejection (no extra promise per write). */
  private videoWrite<M extends Exclude<VideoMsg, { type: 'read' }>>(videoId: string, msg: M) {
    requireId('videoId', videoId);
    // caches are invalidated once per committed turn (onCountersChanged), not per message
    return this.actors.ask(VIDEO_ACTOR, videoId, msg);
  }

  private async snapshotFor(videoId: string, snap: VideoSnapshot, userId?: string): Promise<WatchResult['snapshot']> {
    const [latest, liked] = await Promise.all([
      this.deps.store.videos.comments(videoId, 'newest', { limit: LATEST_COMMENTS }),
      userId === undefined ? Promise.resolve([false]) : this.deps.store.videos.likedByUser(userId, [videoId]),
    ]);
    return {
      counters: snap.counters,
      version: snap.counters.version,
      offset: snap.log.offset,
      epoch: snap.log.epoch,
      latestComments: await this.social.visibleComments(latest.items, userId),
      likedByMe: liked[0] ?? false,
    };
  }

  private async pageOfVideos(ids: string[], limit: number, viewerId?: string): Promise<VideoPage> {
    return this.visible(await this.reads.videoPage(ids.slice(0, limit), ids.length > limit ? encodeCursor(ids[limit - 1]!) : undefined, viewerId), viewerId);
  }

  /** A page without hidden videos and those of users the viewer blocks (it may be short: its cursor goes on). */
  private async visible(page: VideoPage, viewerId?: string): Promise<VideoPage> {
    // a page served from cache while storage is down cannot be checked: it goes out as it was kept
    if (page.degraded) return page;
    return { ...page, items: await this.social.visibleVideos(page.items, viewerId) };
  }

  /** OCR lines through the sensitive-word filter (masked; a rejecting word drops the line), and no tag that holds a listed word. */
  private filterTagging(tagging: TagInfo): TagInfo {
    const out: TagInfo = { ...tagging };
    if (tagging.ocr) {
      out.ocr = tagging.ocr.flatMap((line) => {
        try {
          return [{ ...line, text: this.social.text('ocr', line.text) }];
        } catch (err) {
          if (err instanceof TremoloError && err.code === 'E_CONTENT_REJECTED') return [];
          throw err;
        }
      });
    }
    if (tagging.tags) out.tags = tagging.tags.filter((t) => !this.deps.contentFilter?.matches(t));
    return out;
  }

  /** Drops this process's copies of what a change made stale. */
  private dropLocal(change: Change, source: ChangeSource): void {
    this.reads.drop(change);
    // a video's actor state is stale unless the change is the one it just committed
    if (change.kind === 'video' && source !== 'actor') this.actors.invalidate(VIDEO_ACTOR, change.videoId);
    if (change.kind === 'video') {
      for (const listener of this.videoListeners) {
        try {
          listener(change.videoId);
        } catch (err) {
          this.deps.onError(err, 'video change listener');
        }
      }
    }
  }
}

function subjectOf(viewer: ForYouViewer): string {
  if ('userId' in viewer) {
    requireId('userId', viewer.userId);
    return Recommendations.subjectOf(viewer);
  }
  if (typeof viewer.sessionId !== 'string' || !SESSION_ID.test(viewer.sessionId)) {
    throw new TremoloError('E_VALIDATION', 'session must be 16 to 64 letters, digits, "_" or "-"', { details: { field: 'session' } });
  }
  return Recommendations.subjectOf(viewer);
}

function requireId(field: string, value: unknown): asserts value is string {
  if (!isTsid(value)) throw new TremoloError('E_VALIDATION', `${field} must be a 13-character id`, { details: { field } });
}

/** A hot-feed cursor: `<score>|<id>`, the last video shown. */
function decodeHotCursor(cursor: string | undefined): HotPosition | undefined {
  const position = decodeCursor(cursor);
  if (position === undefined) return undefined;
  const sep = position.lastIndexOf('|');
  const score = Number(position.slice(0, sep));
  const id = position.slice(sep + 1);
  if (sep < 1 || !Number.isFinite(score) || !isTsid(id)) throw new TremoloError('E_BAD_CURSOR');
  return { score, id };
}

function decodeCursorId(cursor: string): string {
  const id = decodeCursor(cursor);
  if (!isTsid(id)) throw new TremoloError('E_BAD_CURSOR');
  return id;
}

/** Comment ids are `<videoId>-<tsid>`. */
export function videoOfComment(commentId: unknown): string {
  if (typeof commentId !== 'string' || !/^[0-9A-Z]{13}-[0-9A-Z]{13}$/.test(commentId)) {
    throw new TremoloError('E_VALIDATION', 'commentId is malformed', { details: { field: 'commentId' } });
  }
  return commentId.slice(0, 13);
}
