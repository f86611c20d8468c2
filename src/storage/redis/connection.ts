/**
 * Every connection to Redis is made here: the client the store and the rate limits run
 * on, and beside it the dedicated connections pub/sub needs (a subscribed connection can
 * do nothing else): the cache-invalidation subscriber, and the Socket.IO adapter's
 * publisher and subscriber. `RedisConnection` owns them all and closes them together.
 *
 * The Socket.IO adapter is built here as well, not in transport: it is made of Redis
 * clients and channel names, the knowledge this folder keeps. Transport receives what
 * `io.adapter()` takes (a Socket.IO type) and whether a broadcast can go out now; no
 * file under src/transport holds an ioredis client or names a Redis channel.
 */
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Cluster, Redis } from 'ioredis';
import { RedisInvalidationBus, type InvalidationBus } from '../cache/invalidation.ts';
import type { RateLimitStore } from '../rate-limits.ts';
import { RedisKeys } from './keys.ts';
import { RedisRateLimitStore } from './rate-limits.ts';
import { storageError, type RedisClient } from './scripts.ts';

export interface RedisClientOptions {
  /** `redis://[:password@]host:port[/db]`; default redis://127.0.0.1:6379. Ignored with clusterNodes. */
  url?: string;
  /** Seed nodes of a Redis Cluster, `host:port` each; when given, a Cluster client is made. */
  clusterNodes?: string[];
  /** Bound on connecting and on every command; past it a call fails with E_STORAGE_UNAVAILABLE. */
  timeoutMs: number;
  /**
   * Commands issued in one event-loop turn go out in one write (ioredis auto-pipelining,
   * REDIS_AUTO_PIPELINE): the storage calls of many actors' turns cost one system call, not
   * one each. Default off; the server follows REDIS_AUTO_PIPELINE.
   */
  autoPipeline?: boolean;
  /** Client errors (connection lost, reconnecting); calls fail on their own, so the default ignores them. */
  onError?: (err: Error) => void;
}

/**
 * Makes a client and connects it (failing with E_STORAGE_UNAVAILABLE when Redis does not
 * answer within `timeoutMs`). The client fails fast afterwards: no offline queue once
 * connected, one retry per command, every command bounded by `timeoutMs`, while it keeps
 * reconnecting in the background.
 */
export async function connectClient(opts: RedisClientOptions): Promise<RedisClient> {
  const { timeoutMs } = opts;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
  const common = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
  };
  const enableAutoPipelining = opts.autoPipeline === true;
  const backoff = (times: number) => Math.min(50 * times, 1000);
  const client: RedisClient = opts.clusterNodes?.length
    ? new Cluster(opts.clusterNodes, {
        lazyConnect: true,
        enableOfflineQueue: true,
        clusterRetryStrategy: backoff,
        slotsRefreshTimeout: timeoutMs,
        enableAutoPipelining,
        redisOptions: common,
      })
    : new Redis(opts.url ?? 'redis://127.0.0.1:6379', { ...common, enableAutoPipelining, enableOfflineQueue: true, retryStrategy: backoff });
  client.on('error', opts.onError ?? (() => {}));
  try {
    await withTimeout(client.connect(), timeoutMs * 2);
  } catch (err) {
    client.disconnect();
    throw storageError(err);
  }
  // from now on a call made while Redis is away fails at once instead of queueing
  client.options.enableOfflineQueue = false;
  return client;
}

/** Quits politely when the connection is up, else drops it (Redis may be why we stop). */
export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: drop the connection
    }
  }
  client.disconnect();
}

/** Socket.IO's Redis adapter, as a Socket.IO server takes it. */
export interface SocketAdapter {
  /** For `io.adapter(...)`. */
  readonly adapter: ReturnType<typeof createAdapter> | ReturnType<typeof createShardedAdapter>;
  /** Whether a broadcast can be published now: the adapter does not handle a failed PUBLISH. */
  reachable(): boolean;
  /**
   * Resolves once the subscriptions the adapter made when a server took it are in place:
   * replies come in order, so once a PING on its subscriber is answered its SUBSCRIBE and
   * PSUBSCRIBE (whose promises it never handles) have been too, and none is left pending
   * to reject later.
   */
  subscribed(): Promise<void>;
}

/** The main client and the dedicated connections made from it, closed together. */
export class RedisConnection {
  readonly keys: RedisKeys;
  readonly #client: RedisClient;
  readonly #dedicated: RedisClient[] = [];

  private constructor(client: RedisClient, keys: RedisKeys) {
    this.#client = client;
    this.keys = keys;
  }

  /** Connects (see `connectClient`); every key and channel it names starts with `prefix`. */
  static async open(opts: RedisClientOptions & { prefix: string }): Promise<RedisConnection> {
    const keys = new RedisKeys(opts.prefix); // a bad prefix is refused before connecting
    return new RedisConnection(await connectClient(opts), keys);
  }

  /** The main client, for the store (RedisStore.on); nothing else holds it. */
  get client(): RedisClient {
    return this.#client;
  }

  /** Rate-limit counters shared by every process. */
  rateLimits(): RateLimitStore {
    return new RedisRateLimitStore(this.#client, this.keys);
  }

  /** Cache invalidations to and from the other processes; `senderId` tells this process's own apart. */
  async invalidationBus(senderId: string): Promise<InvalidationBus> {
    const sub = await this.#dedicatedClient({ subscriber: true });
    return new RedisInvalidationBus(this.#client, sub, this.keys.invalidation(), senderId, () => {});
  }

  /**
   * Socket.IO's Redis adapter, on a publisher and a subscriber of its own. On a Redis
   * Cluster, classic PUBLISH is copied to every node: the sharded adapter (SPUBLISH,
   * Redis 7) keeps each room's traffic on one shard instead.
   */
  async socketAdapter(): Promise<SocketAdapter> {
    const cluster = this.#client instanceof Cluster;
    // the publisher carries a serverSideEmit per committed turn: it pipelines as the main client does
    const [pub, sub] = await Promise.all([this.#dedicatedClient({ subscriber: false }), this.#dedicatedClient({ subscriber: true, sharded: cluster })]);
    handlePublishFailures(pub);
    const channel = this.keys.socketIo();
    return {
      adapter: cluster ? createShardedAdapter(pub, sub, { channelPrefix: channel }) : createAdapter(pub, sub, { key: channel }),
      reachable: () => pub.status === 'ready' || pub.status === 'connect',
      // the PING queues behind the SUBSCRIBE; a bound of its own, since a subscriber has no
      // command timeout (see #dedicatedClient)
      subscribed: async () => {
        await withTimeout(sub.ping(), SUBSCRIBE_WAIT_MS);
      },
    };
  }

  /** Closes the dedicated connections, then the main client. */
  async close(): Promise<void> {
    for (const client of this.#dedicated.splice(0)) client.disconnect();
    await closeClient(this.#client);
  }

  /**
   * A new connection with the main client's settings, connected before use: pub/sub users
   * subscribe at once and do not handle a subscription still pending when the connection
   * closes. `sharded`: a Cluster subscriber that follows each channel's slot to its node.
   * A subscriber never auto-pipelines (its few commands are subscriptions and a PING).
   */
  async #dedicatedClient(opts: { subscriber: boolean; sharded?: boolean }): Promise<RedisClient> {
    const main = this.#client;
    const pipelining = opts.subscriber ? { enableAutoPipelining: false } : {};
    // A subscription is never answered late but lost with its node (a failover): the
    // adapter does not handle its (S)SUBSCRIBE's promise, so a command timeout on a
    // subscriber (a busy Redis while a process starts) would surface as an unhandled
    // rejection and end the process. Subscribers go without one and are resubscribed by the
    // client when their node comes back or moves.
    const noTimeout = opts.subscriber ? { commandTimeout: undefined } : {};
    const client =
      main instanceof Cluster
        ? main.duplicate(undefined, {
            lazyConnect: true,
            enableOfflineQueue: true,
            ...pipelining,
            shardedSubscribers: opts.sharded === true,
            redisOptions: { ...main.options.redisOptions, ...noTimeout },
          })
        : main.duplicate({ lazyConnect: true, enableOfflineQueue: true, ...pipelining, ...noTimeout });
    client.on('error', () => {}); // the main client reports connection trouble
    this.#dedicated.push(client);
    await client.connect();
    return client;
  }
}

/** How long a starting process waits for its Socket.IO subscription before giving up. */
const SUBSCRIBE_WAIT_MS = 30_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The adapter publishes every broadcast and `serverSideEmit` without waiting for the reply, so
 * a publish that fails (a command timeout under load, a lost connection) would be an unhandled
 * rejection and end the process. A broadcast peers miss is caught up from the logs (each
 * video's event log, each conversation's: deliveries that find a gap read it), so a failed
 * publish is dropped here; the promise still rejects for a caller that awaits it.
 */
function handlePublishFailures(pub: RedisClient): void {
  for (const name of ['publish', 'spublish'] as const) {
    const original = pub[name].bind(pub) as (...args: unknown[]) => Promise<unknown>;
    (pub as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const sent = original(...args);
      sent.catch(() => undefined);
      return sent;
    };
  }
}
