/**
 * The embedded driver: everything in this process's memory, nothing on disk. It is the
 * default for a single process and the reference the Redis driver is tested against:
 * each method runs synchronously to completion, which makes it atomic, and returns
 * copies so callers never share mutable state with the store. One file per aggregate
 * (users.ts, videos.ts, feeds.ts, jobs.ts, uploads.ts), all over one MemoryTables object (tables.ts).
 */
import { randomInt } from 'node:crypto';
import { TsidGenerator } from '../../domain/ids.ts';
import { DEFAULT_INTERACTION_LIMITS, type InteractionLog } from '../interactions.ts';
import type { JobStore } from '../jobs.ts';
import type {
  ConversationStore,
  FeedStore,
  RecommendationStore,
  Store,
  StoreLimits,
  UserStore,
  VideoStore,
  CommentThreadStore,
  FavoriteStore,
} from '../store.ts';
import type { BlockStore, ModerationStore, NotificationStore } from '../social.ts';
import type { UploadStore } from '../uploads.ts';
import { MemoryConversations } from './conversations.ts';
import { MemoryCommentThreads } from './comments.ts';
import { MemoryFavorites } from './favorites.ts';
import { MemoryFeeds } from './feeds.ts';
import { MemoryRecommendations } from './recommendations.ts';
import { MemoryInteractions } from './interactions.ts';
import { MemoryJobs } from './jobs.ts';
import { memoryTables } from './tables.ts';
import { MemoryUploads } from './uploads.ts';
import { MemoryUsers } from './users.ts';
import { MemoryBlocks, MemoryModeration, MemoryNotifications } from './social.ts';
import { MemoryVideos } from './videos.ts';

export class MemoryStore implements Store {
  readonly driver = 'memory' as const;
  readonly users: UserStore;
  readonly videos: VideoStore;
  readonly feeds: FeedStore;
  readonly recommendations: RecommendationStore;
  readonly jobs: JobStore;
  readonly uploads: UploadStore;
  readonly conversations: ConversationStore;
  readonly interactions: InteractionLog;
  readonly notifications: NotificationStore;
  readonly blocks: BlockStore;
  readonly moderation: ModerationStore;
  readonly comments: CommentThreadStore;
  readonly favorites: FavoriteStore;

  /** `eventIds` issues interaction event ids (main.ts passes the process's generator; default: a random node id). */
  constructor(limits: StoreLimits, eventIds: TsidGenerator = new TsidGenerator({ nodeId: randomInt(1024) })) {
    const tables = memoryTables(limits.interactions ?? DEFAULT_INTERACTION_LIMITS, () => eventIds.next());
    this.users = new MemoryUsers(tables);
    this.videos = new MemoryVideos(tables, limits);
    this.feeds = new MemoryFeeds(tables);
    this.recommendations = new MemoryRecommendations(tables);
    this.jobs = new MemoryJobs(tables);
    this.uploads = new MemoryUploads(tables);
    this.conversations = new MemoryConversations(limits);
    this.interactions = new MemoryInteractions(tables);
    this.notifications = new MemoryNotifications(tables);
    this.blocks = new MemoryBlocks(tables);
    this.moderation = new MemoryModeration(tables);
    this.comments = new MemoryCommentThreads(tables, limits);
    this.favorites = new MemoryFavorites(tables);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
