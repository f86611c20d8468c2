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
import type { Tracing } from '../telemetry/tracing.ts';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock.ts';
import type { TsidGenerator } from '../domain/ids.ts';
import { isTsid } from '../domain/ids.ts';
import { boundTagging, TagTokenizer } from '../domain/tags.ts';
import { requireText } from '../domain/text.ts';
import type { Metrics } from '../metrics.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Comment, Counters, MediaRefs, Page, PageRequest, TagInfo, UserProfile, Video, VideoEvent, VideoRecord } from '../protocol/model.ts';
import type { InvalidationBus } from '../storage/cache/invalidation.ts';
import { decodeCursor, decodeOffsetCursor, encodeCursor } from '../storage/cursor.ts';
import type { CommentOrder, Store, UserRecord, VideoState } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import { FeedService, type FeedOptions } from './feed.ts';
import { HotScores } from './hot-scores.ts';
import { Invalidations, type Change, type ChangeSource } from './invalidations.ts';
import { ReadModel, type VideoPage } from './read-model.ts';
import { ActorSystem, type ActorLimits } from './runtime.ts';
import { USER_ACTOR, userActor, type UserReply } from './user-actor.ts';
import {
  VIDEO_ACTOR,
  videoActor,
  type CommentReply,
  type DeleteCommentReply,
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
}

export interface EngineDeps {
  store: Store;
  sink: EventSink;
  clock: Clock;
  ids: TsidGenerator;
  limits: EngineLimits;
  metrics?: Metrics;
  invalidation: InvalidationBus;
  onError: (err: unknown, context: string) => void;
  /** Spans of actor turns (telemetry/tracing.ts). Default: off. */
  tracing?: Tracing;
  /** Reads tag searches; one per process (its Chinese dictionary loads on first use). Default: a new one. */
  tags?: TagTokenizer;
}

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
  private readonly actors: ActorSystem;
  private readonly reads: ReadModel;
  private readonly invalidations: Invalidations;
  private readonly hotScores: HotScores;
  private readonly tags: TagTokenizer;

  constructor(private readonly deps: EngineDeps) {
    const { store, sink, clock, ids, limits, metrics } = deps;
    this.tags = deps.tags ?? new TagTokenizer();
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
    });
    this.invalidations = new Invalidations(deps.invalidation, (change, source) => this.dropLocal(change, source));
    this.hotScores = new HotScores({ feeds: store.feeds, clock, onError: deps.onError });
    this.actors.register(
      VIDEO_ACTOR,
      videoActor({
        store,
        sink,
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
      userActor({ store, sink, onFollowsChanged: (userIds) => userIds.forEach((userId) => this.invalidations.changed({ kind: 'user', userId })) }),
    );
    this.feed = new FeedService({
      store,
      sink,
      options: limits.feed,
      followerCount: async (id) => (await this.reads.profile(id)).value?.followers ?? 0,
      existing: async (videoIds) => (await this.reads.videos(videoIds)).map((r) => r.value !== null),
      onError: deps.onError,
      // one message per fan-out batch tells every process to drop these readers' kept pages
      onInboxesChanged: (userIds) => this.invalidations.changed({ kind: 'inboxes', userIds }),
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
      handle: input.handle,
      displayName: input.displayName === undefined ? input.handle : requireText('displayName', input.displayName, { min: 1, max: 64 }),
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

  async createVideo(ownerId: string, input: { title: unknown; description?: unknown; media?: MediaRefs }): Promise<Video> {
    const title = requireText('title', input.title, { min: 1, max: this.deps.limits.titleMaxChars });
    const description =
      input.description === undefined ? '' : requireText('description', input.description, { min: 0, max: this.deps.limits.descriptionMaxChars });
    const owner = await this.profile(ownerId);
    const fanout = this.feed.reserve();
    const record: VideoRecord = {
      id: this.deps.ids.next(),
      ownerId: owner.value.id,
      title,
      description,
      createdAt: new Date(this.deps.clock.now()).toISOString(),
      media: input.media ?? {},
    };
    let state: VideoState;
    try {
      state = await this.deps.store.videos.create(record);
      this.reads.keepVideo(state);
      this.invalidations.changed({ kind: 'user', userId: ownerId });
      await this.hotScores.created(record, state.counters);
    } catch (err) {
      fanout.release();
      throw err;
    }
    fanout.publish(record);
    return { ...state.video, counters: state.counters };
  }

  async getVideo(videoId: string, viewerId?: string): Promise<Read<Video>> {
    requireId('videoId', videoId);
    const r = await this.reads.video(videoId);
    if (!r.value) throw new TremoloError('E_VIDEO_NOT_FOUND');
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
    this.invalidations.changed({ kind: 'video', videoId });
    this.invalidations.changed({ kind: 'user', userId });
    this.deps.sink.publish({ type: 'video:deleted', videoId });
    return value;
  }

  async like(videoId: string, userId: string): Promise<LikeReply> {
    requireId('userId', userId);
    return this.videoWrite(videoId, { type: 'like', userId });
  }

  async unlike(videoId: string, userId: string): Promise<LikeReply> {
    requireId('userId', userId);
    return this.videoWrite(videoId, { type: 'unlike', userId });
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
    return this.videoWrite(videoId, { type: 'view', viewerId });
  }

  async addComment(videoId: string, authorId: string, input: { text: unknown; replyTo?: unknown; idempotencyKey?: unknown }): Promise<CommentReply> {
    requireId('userId', authorId);
    const text = requireText('text', input.text, { min: 1, max: this.deps.limits.commentMaxChars });
    if (input.replyTo !== undefined && (typeof input.replyTo !== 'string' || !input.replyTo.startsWith(`${videoId}-`))) {
      throw new TremoloError('E_REPLY_TARGET');
    }
    const key = input.idempotencyKey ?? randomUUID();
    if (typeof key !== 'string' || key.length < 1 || key.length > 128) {
      throw new TremoloError('E_VALIDATION', 'idempotencyKey must be a string of 1 to 128 characters', { details: { field: 'idempotencyKey' } });
    }
    return this.videoWrite(videoId, {
      type: 'comment',
      authorId,
      text,
      idempotencyKey: key,
      ...(input.replyTo !== undefined ? { replyTo: input.replyTo as string } : {}),
    });
  }

  /**
   * Stores a video's tags (from the media pipeline) and drops cached copies everywhere. Tags
   * are normalised and every list capped (`boundTagging`).
   */
  async setTagging(videoId: string, tagging: TagInfo): Promise<void> {
    requireId('videoId', videoId);
    await this.deps.store.videos.setTagging(videoId, boundTagging(tagging));
    this.invalidations.changed({ kind: 'video', videoId });
  }

  async deleteComment(commentId: string, userId: string): Promise<DeleteCommentReply> {
    requireId('userId', userId);
    const videoId = videoOfComment(commentId);
    return this.videoWrite(videoId, { type: 'deleteComment', commentId, userId });
  }

  async comments(videoId: string, order: CommentOrder, page: PageRequest): Promise<Page<Comment>> {
    requireId('videoId', videoId);
    return this.deps.store.videos.comments(videoId, order, page);
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
      return this.reads.videoPage(ids.items, ids.nextCursor, viewerId);
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
      if (next === undefined) return this.reads.videoPage(found, undefined, viewerId);
      // bounded work per request: the page may be short, its cursor goes on from here
      if (found.length === page.limit || scanned === TAG_SCAN_MAX) return this.reads.videoPage(found, encodeCursor(last!), viewerId);
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

  // ------------------------------------------------------------ feeds

  /**
   * The following feed, cached at two levels. Its page of ids is cached per (user, cursor,
   * limit): building it merges the inbox with every pulled author's outbox, the expensive part.
   * The finished page is kept too, tagged with its reader and each of its videos, and dropped
   * when any of them changes (a like, a comment, a view, an edit, a delete, here or in another
   * process): readers see fresh counters, and a repeat read costs one lookup. A user's pages
   * go when their follows change or a post is fanned out to them, by any process.
   */
  async followingFeed(userId: string, page: PageRequest): Promise<VideoPage> {
    return this.reads.followingFeed(userId, page);
  }

  async hotFeed(page: PageRequest, viewerId?: string): Promise<VideoPage> {
    const offset = decodeOffsetCursor(page.cursor);
    const ids = await this.deps.store.feeds.hot(offset, page.limit + 1);
    return this.reads.videoPage(ids.slice(0, page.limit), ids.length > page.limit ? encodeCursor(offset + page.limit) : undefined, viewerId);
  }

  /** Flushes pending background work (fan-out, hot scores) and stops the actors. */
  async shutdown(timeoutMs: number): Promise<void> {
    await this.actors.drainAll(timeoutMs);
    await this.feed.idle();
    await this.hotScores.close();
    await this.invalidations.close();
  }

  /** Writes pending hot-score updates now (normally batched once a second). */
  flushHotScores(): Promise<void> {
    return this.hotScores.flush();
  }

  // ------------------------------------------------------------ internals

  private async videoWrite<M extends Exclude<VideoMsg, { type: 'read' }>>(videoId: string, msg: M) {
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
      latestComments: latest.items,
      likedByMe: liked[0] ?? false,
    };
  }

  private pageOfVideos(ids: string[], limit: number, viewerId?: string): Promise<VideoPage> {
    return this.reads.videoPage(ids.slice(0, limit), ids.length > limit ? encodeCursor(ids[limit - 1]!) : undefined, viewerId);
  }

  /** Drops this process's copies of what a change made stale. */
  private dropLocal(change: Change, source: ChangeSource): void {
    this.reads.drop(change);
    // a video's actor state is stale unless the change is the one it just committed
    if (change.kind === 'video' && source !== 'actor') this.actors.invalidate(VIDEO_ACTOR, change.videoId);
  }
}

function requireId(field: string, value: unknown): asserts value is string {
  if (!isTsid(value)) throw new TremoloError('E_VALIDATION', `${field} must be a 13-character id`, { details: { field } });
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
