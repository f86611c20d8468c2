/**
 * The Redis driver (ioredis + Lua), for many processes and Redis Cluster. It behaves
 * exactly like the memory driver (one contract suite runs against both); what is only
 * true here is documented where it happens, one file per aggregate (users.ts, videos.ts,
 * feeds.ts, jobs.ts, uploads.ts), every key built in keys.ts, every connection made in connection.ts:
 *
 * - Every write to one entity is one Lua script over that entity's keys, which share a
 *   Cluster hash tag (see keys.ts), so it is atomic and touches one slot.
 * - Writes that span entities (a follow, a video's outbox and tag indexes, a handle) are
 *   idempotent steps in a fixed order, so a retry after a failure in between converges.
 * - Every client failure surfaces as TremoloError: E_STORAGE_UNAVAILABLE when Redis is
 *   unreachable or slow (scripts.ts `storageError`), never an ioredis type.
 */
import { randomInt } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { TsidGenerator } from '../../domain/ids.ts';
import { checkInteractionLimits, DEFAULT_INTERACTION_LIMITS } from '../interactions.ts';
import type { Tracing } from '../../telemetry/tracing.ts';
import { StoreAggregatesBase, type Store, type StoreLimits } from '../store.ts';
import { closeClient, connectClient, type RedisClientOptions, type RedisConnection } from './connection.ts';
import type { RedisContext } from './context.ts';
import { RedisConversations } from './conversations.ts';
import { RedisCommentThreads } from './comments.ts';
import { RedisFavorites } from './favorites.ts';
import { RedisFeeds } from './feeds.ts';
import { RedisRecommendations } from './recommendations.ts';
import { InteractionStreams, RedisInteractions } from './interactions.ts';
import { RedisFanout } from './fanout.ts';
import { RedisJobs } from './jobs.ts';
import { RedisKeys } from './keys.ts';
import type { ReplicaWaitOptions } from './replicas.ts';
import { io, Scripts, type RedisClient } from './scripts.ts';
import { RedisUploads } from './uploads.ts';
import { RedisUsers } from './users.ts';
import { RedisBlocks, RedisModeration, RedisNotifications } from './social.ts';
import { RedisVideos } from './videos.ts';

export interface RedisStoreOptions {
  /** A connected ioredis client; the caller owns it (close() leaves it open). */
  redis: Redis | Cluster;
  /** Prepended to every key, e.g. `tremolo:`. Must not contain braces. */
  prefix: string;
  limits: StoreLimits;
  /** Issues interaction event ids (main.ts passes the process's generator; default: a random node id). */
  eventIds?: TsidGenerator;
  /** Spans of script calls. Default: off. */
  tracing?: Tracing;
  /** Replicas every write must reach before it returns (REDIS_WAIT_REPLICAS, replicas.ts). Default: off. */
  replicaWait?: ReplicaWaitOptions;
}

export type RedisConnectOptions = RedisClientOptions & {
  prefix: string;
  limits: StoreLimits;
  tracing?: Tracing;
  replicaWait?: ReplicaWaitOptions;
};

export class RedisStore extends StoreAggregatesBase implements Store {
  readonly driver = 'redis' as const;
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #videos: RedisVideos;
  /** True when connect() made the client, so close() closes it. */
  #owned = false;

  constructor(opts: RedisStoreOptions) {
    const { redis, prefix, limits, tracing } = opts;
    if (!(redis instanceof Redis) && !(redis instanceof Cluster)) throw new TypeError('redis must be an ioredis Redis or Cluster');
    if (!Number.isInteger(limits.eventLogMax) || limits.eventLogMax < 0) throw new RangeError('limits.eventLogMax must be an integer >= 0');
    if (!Number.isFinite(limits.viewDedupS) || limits.viewDedupS < 0) throw new RangeError('limits.viewDedupS must be a number >= 0');
    const interactions = { ...(limits.interactions ?? DEFAULT_INTERACTION_LIMITS) };
    checkInteractionLimits(interactions);
    const keys = new RedisKeys(prefix);
    const eventIds = opts.eventIds ?? new TsidGenerator({ nodeId: randomInt(1024) });
    const ctx: RedisContext = {
      client: redis,
      keys,
      scripts: new Scripts(redis, undefined, tracing, opts.replicaWait),
      limits: { ...limits },
      interactions,
      streams: new InteractionStreams({ client: redis, keys }),
      eventId: () => eventIds.next(),
    };
    const videos = new RedisVideos(ctx);
    super({
      users: new RedisUsers(ctx),
      videos,
      feeds: new RedisFeeds(ctx),
      fanout: new RedisFanout(ctx),
      recommendations: new RedisRecommendations(ctx),
      jobs: new RedisJobs(ctx),
      uploads: new RedisUploads(ctx),
      conversations: new RedisConversations(ctx),
      interactions: new RedisInteractions(ctx, ctx.streams, ctx.interactions),
      notifications: new RedisNotifications(ctx),
      blocks: new RedisBlocks(ctx),
      moderation: new RedisModeration(ctx),
      comments: new RedisCommentThreads(ctx),
      favorites: new RedisFavorites(ctx),
    });
    this.#client = redis;
    this.#keys = keys;
    this.#videos = videos;
  }

  /**
   * The upgrade step of the bucketed likers (issue 21, lua/includes/likers.lua): finds every
   * video whose likers are still in the old set, on every master, and moves them into buckets.
   * Safe while servers run (reads and writes see both layouts until then) and to run again.
   */
  async migrateLikers(): Promise<{ videos: number; likers: number }> {
    const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    const { pattern, videoId } = this.#keys.legacyLikers();
    let videos = 0;
    let likers = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await io(() => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'set'));
        cursor = next;
        for (const key of found) {
          const id = videoId(key);
          if (id === null) continue;
          likers += await this.#videos.migrateLikers(id);
          videos++;
        }
      } while (cursor !== '0');
    }
    return { videos, likers };
  }

  /** A store on a connection's main client; the connection owns it (close() leaves it open). */
  static on(
    connection: RedisConnection,
    limits: StoreLimits,
    opts: { eventIds?: TsidGenerator; tracing?: Tracing; replicaWait?: ReplicaWaitOptions } = {},
  ): RedisStore {
    return new RedisStore({ redis: connection.client, prefix: connection.keys.prefix, limits, ...opts });
  }

  /**
   * Makes its own client (see connection.ts `connectClient`: fails with
   * E_STORAGE_UNAVAILABLE when Redis does not answer within `timeoutMs`, fails fast
   * afterwards). close() closes it.
   */
  static async connect(opts: RedisConnectOptions): Promise<RedisStore> {
    const client = await connectClient(opts);
    let store: RedisStore;
    try {
      store = new RedisStore({
        redis: client,
        prefix: opts.prefix,
        limits: opts.limits,
        ...(opts.tracing ? { tracing: opts.tracing } : {}),
        ...(opts.replicaWait ? { replicaWait: opts.replicaWait } : {}),
      });
    } catch (err) {
      client.disconnect();
      throw err;
    }
    store.#owned = true;
    return store;
  }

  async ping(): Promise<void> {
    await io(() => this.#client.ping());
  }

  async close(): Promise<void> {
    if (this.#owned) await closeClient(this.#client);
  }
}
