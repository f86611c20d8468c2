/**
 * The read side of the Engine: what readers are served from memory, and how each change makes
 * it stale.
 *
 * - Videos and profiles: read caches (ReadCache) in front of the store.
 * - Following-feed pages at two levels: the page of ids (the inbox merged with pulled
 *   authors' outboxes, the expensive part) per (reader, cursor, limit), and the finished page,
 *   tagged with its reader and each of its videos (TaggedCache), so that a change to any of
 *   them drops it. A reader's pages of ids are retired at once by bumping the reader's feed
 *   generation, which is part of their key.
 * - The Video objects handed out are made once per cached state and viewer relation, so a page
 *   of hot videos allocates nothing and the HTTP layer can keep each one's JSON.
 */
import type { Clock } from '../domain/clock.ts';
import type { CacheMetrics } from '../metrics.ts';
import type { Page, PageRequest, UserProfile, Video } from '../protocol/model.ts';
import { ReadCache, type CacheRead } from '../storage/cache/read-cache.ts';
import { TaggedCache } from '../storage/cache/tagged-cache.ts';
import type { Store, VideoState } from '../storage/store.ts';
import type { Change } from './invalidations.ts';

/** A page of videos; `degraded` when served from cache while storage was unavailable. */
export type VideoPage = Readonly<Page<Video> & { degraded?: true }>;

export interface ReadModelDeps {
  store: Pick<Store, 'videos' | 'users'>;
  clock: Clock;
  cache: { max: number; ttlMs: number; negativeTtlMs: number };
  metrics?: CacheMetrics;
  /** Builds one page of a user's following feed (video ids), for the page cache. */
  followingPage: (userId: string, page: PageRequest) => Promise<Page<string>>;
  /**
   * What of `videos` the reader may see (no hidden videos, none of authors they block). A
   * following-feed page is kept already filtered: hiding or restoring one of its videos and
   * the reader's blocks drop it like any other change to them.
   */
  visible: (videos: readonly Video[], viewerId: string) => Promise<Video[]>;
}

interface VideoViews {
  anonymous?: Video;
  liked?: Video;
  notLiked?: Video;
}

/** A cached page of feed ids: whose, of which generation of their feed, and which page. */
interface FeedPageKey {
  userId: string;
  generation: number;
  limit: number;
  cursor: string;
}

export class ReadModel {
  private readonly videoCache: ReadCache<VideoState>;
  private readonly profileCache: ReadCache<UserProfile>;
  private readonly feedPages: ReadCache<Page<string>>;
  /** Finished following-feed pages, tagged with their reader and videos. */
  private readonly feedViews: TaggedCache<VideoPage>;
  private readonly videoViews = new WeakMap<VideoState, VideoViews>();
  /** Bumped to retire every cached feed page of a user at once. */
  private readonly feedGeneration = new Map<string, number>();

  constructor(private readonly deps: ReadModelDeps) {
    const { store, clock, cache, metrics } = deps;
    const cacheOpts = { ...cache, clock, metrics };
    this.videoCache = new ReadCache({ ...cacheOpts, name: 'video', load: (id) => store.videos.get(id) });
    this.profileCache = new ReadCache({ ...cacheOpts, name: 'user', load: (id) => store.users.profile(id) });
    this.feedViews = new TaggedCache({ max: cache.max, ttlMs: cache.ttlMs, clock });
    this.feedPages = new ReadCache({
      ...cacheOpts,
      name: 'feed',
      load: (key) => {
        const { userId, limit, cursor } = parseFeedPageKey(key);
        return deps.followingPage(userId, { limit, ...(cursor ? { cursor } : {}) });
      },
    });
  }

  /** A video's state (null: no such video). */
  video(videoId: string): Promise<CacheRead<VideoState>> {
    return this.videoCache.get(videoId);
  }

  /** Several videos' states, in order; only the misses go to storage (together). */
  videos(videoIds: readonly string[]): Promise<CacheRead<VideoState>[]> {
    return this.videoCache.getMany(videoIds);
  }

  /** Keeps a state a write returned (it is authoritative: no need to read it back). */
  keepVideo(state: VideoState): void {
    this.videoCache.set(state.video.id, state);
  }

  /** A user's profile (null: no such user). */
  profile(userId: string): Promise<CacheRead<UserProfile>> {
    return this.profileCache.get(userId);
  }

  /** The reader's page when it is kept (a repeat read), at once, without a promise; otherwise undefined and `followingFeed` reads it. */
  keptFollowingFeed(userId: string, page: PageRequest): VideoPage | undefined {
    return this.feedViews.get(this.#feedPageKey(userId, page));
  }

  /**
   * The following feed of `userId`, as they may see it. A repeat read of an unchanged page is
   * one lookup that returns the same object (so its JSON can be kept too); a page whose videos
   * changed is rebuilt from its cached page of ids.
   */
  async followingFeed(userId: string, page: PageRequest): Promise<VideoPage> {
    const key = this.#feedPageKey(userId, page);
    const kept = this.feedViews.get(key);
    if (kept) return kept;
    const mark = this.feedViews.mark();
    const ids = await this.feedPages.get(key);
    const items = ids.value?.items ?? [];
    const view = await this.videoPage(items, ids.value?.nextCursor, userId, ids.degraded);
    // a page read from cache while storage is down cannot be checked: it goes out as it was kept
    if (view.degraded) return view;
    const shown: VideoPage = Object.freeze({ ...view, items: await this.deps.visible(view.items, userId) });
    // tagged with every video read, shown or not (restoring a hidden one changes the page);
    // not kept if the reader or one of them changed while it was read (it may hold the old state)
    this.feedViews.set(key, shown, [readerTag(userId), ...items.map(videoTag)], mark);
    return shown;
  }

  #feedPageKey(userId: string, page: PageRequest): string {
    return feedPageKey({ userId, generation: this.feedGeneration.get(userId) ?? 0, limit: page.limit, cursor: page.cursor ?? '' });
  }

  /**
   * The videos of `ids` that still exist, in order, as `viewerId` sees them. A page built from
   * a cache that storage could not refresh is marked degraded (and has no likedByMe, which
   * would need storage).
   */
  async videoPage(ids: readonly string[], nextCursor: string | undefined, viewerId?: string, degraded = false): Promise<VideoPage> {
    const reads = await this.videoCache.getMany(ids);
    const states = reads.map((r) => r.value).filter((s): s is VideoState => s !== null);
    const stale = degraded || reads.some((r) => r.degraded);
    let items: Video[];
    if (viewerId === undefined || stale) {
      items = states.map((s) => this.videoOf(s, 'anonymous'));
    } else {
      const liked = await this.deps.store.videos.likedByUser(
        viewerId,
        states.map((s) => s.video.id),
      );
      items = states.map((s, i) => this.videoOf(s, liked[i] ? 'liked' : 'notLiked'));
    }
    return Object.freeze({ items, ...(nextCursor !== undefined ? { nextCursor } : {}), ...(stale ? { degraded: true as const } : {}) });
  }

  /** Drops what `change` made stale. */
  drop(change: Change): void {
    switch (change.kind) {
      case 'video':
        this.videoCache.invalidate(change.videoId);
        this.feedViews.invalidateTag(videoTag(change.videoId));
        return;
      case 'user':
        // a profile, follows or blocks: blocks change what the user's feed pages may show
        this.profileCache.invalidate(change.userId);
        this.retireFeedPages(change.userId);
        return;
      case 'inboxes':
        for (const userId of change.userIds) this.retireFeedPages(userId);
        return;
    }
  }

  private retireFeedPages(userId: string): void {
    this.feedGeneration.set(userId, (this.feedGeneration.get(userId) ?? 0) + 1);
    this.feedViews.invalidateTag(readerTag(userId));
  }

  /**
   * The Video of a cached state as seen by an anonymous reader, a liker or a non-liker: made
   * once per state, so a page of hot videos allocates nothing and the HTTP layer can keep
   * each one's JSON (keyed by the object) until the state is replaced. Never mutate the result.
   */
  private videoOf(state: VideoState, seenBy: keyof VideoViews): Video {
    let views = this.videoViews.get(state);
    if (!views) this.videoViews.set(state, (views = {}));
    return (views[seenBy] ??= Object.freeze({
      ...state.video,
      counters: state.counters,
      ...(seenBy === 'anonymous' ? {} : { likedByMe: seenBy === 'liked' }),
    }));
  }
}

/** Tags of finished feed pages: one per reader, one per video shown. */
const readerTag = (userId: string): string => `feed:${userId}`;
const videoTag = (videoId: string): string => `video:${videoId}`;

// The page cache is keyed by string. The cursor comes from the client and goes last, whole,
// so whatever it holds cannot shift the other fields.
function feedPageKey(k: FeedPageKey): string {
  return `${k.userId}|${k.generation}|${k.limit}|${k.cursor}`;
}

function parseFeedPageKey(key: string): FeedPageKey {
  const [userId = '', generation = '', limit = ''] = key.split('|', 3);
  const cursor = key.slice(userId.length + generation.length + limit.length + 3);
  return { userId, generation: Number(generation), limit: Number(limit), cursor };
}
