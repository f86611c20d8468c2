/**
 * The embedded driver: everything in this process's memory, nothing on disk. It is the
 * default for a single process and the reference the Redis driver is tested against:
 * each method runs synchronously to completion, which makes it atomic, and returns
 * copies so callers never share mutable state with the store. One file per aggregate
 * (users.ts, videos.ts, feeds.ts, jobs.ts, uploads.ts), all over one MemoryTables object (tables.ts).
 */
import { randomInt } from 'node:crypto';
import { TsidGenerator } from '../../domain/ids.ts';
import { checkInteractionLimits, DEFAULT_INTERACTION_LIMITS } from '../interactions.ts';
import { StoreAggregatesBase, type Store, type StoreLimits } from '../store.ts';
import { MemoryConversations } from './conversations.ts';
import { MemoryCommentThreads } from './comments.ts';
import { MemoryFavorites } from './favorites.ts';
import { MemoryFeeds } from './feeds.ts';
import { MemoryRecommendations } from './recommendations.ts';
import { MemoryInteractions } from './interactions.ts';
import { MemoryFanout } from './fanout.ts';
import { MemoryJobs } from './jobs.ts';
import { memoryTables } from './tables.ts';
import { MemoryUploads } from './uploads.ts';
import { MemoryUsers } from './users.ts';
import { MemoryBlocks, MemoryModeration, MemoryNotifications } from './social.ts';
import { MemoryVideos } from './videos.ts';

export class MemoryStore extends StoreAggregatesBase implements Store {
  readonly driver = 'memory' as const;

  /** `eventIds` issues interaction event ids (main.ts passes the process's generator; default: a random node id). */
  constructor(limits: StoreLimits, eventIds: TsidGenerator = new TsidGenerator({ nodeId: randomInt(1024) })) {
    const interactions = { ...(limits.interactions ?? DEFAULT_INTERACTION_LIMITS) };
    checkInteractionLimits(interactions);
    const tables = memoryTables(interactions, () => eventIds.next());
    super({
      users: new MemoryUsers(tables),
      videos: new MemoryVideos(tables, limits),
      feeds: new MemoryFeeds(tables),
      fanout: new MemoryFanout(),
      recommendations: new MemoryRecommendations(tables),
      jobs: new MemoryJobs(tables),
      uploads: new MemoryUploads(tables),
      conversations: new MemoryConversations(limits),
      interactions: new MemoryInteractions(tables),
      notifications: new MemoryNotifications(tables),
      blocks: new MemoryBlocks(tables),
      moderation: new MemoryModeration(tables),
      comments: new MemoryCommentThreads(tables, limits),
      favorites: new MemoryFavorites(tables),
    });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
