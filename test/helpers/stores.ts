/**
 * The two Store drivers a test runs the same checks against: the embedded memory store, and
 * Redis (127.0.0.1:6379 or REDIS_URL) under a key prefix of its own, dropped on close.
 */
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import type { TsidGenerator } from '../../src/domain/ids.ts';
import type { VideoRecord } from '../../src/protocol/model.ts';
import type { Store, StoreLimits } from '../../src/storage/store.ts';
import { connectRedis, dropPrefix, randomPrefix } from './redis.ts';

export interface OpenedStore {
  store: Store;
  close: () => Promise<void>;
}

export interface StoreDriver {
  name: 'memory' | 'redis';
  open: () => Promise<OpenedStore>;
}

/** Both drivers; `prefixName` names the Redis keys of the test (`randomPrefix`). */
export function storeDrivers(prefixName: string, limits: StoreLimits): StoreDriver[] {
  return [
    { name: 'memory', open: async () => ({ store: new MemoryStore(limits), close: async () => {} }) },
    {
      name: 'redis',
      open: async () => {
        const redis = await connectRedis();
        const prefix = randomPrefix(prefixName);
        return {
          store: new RedisStore({ redis, prefix, limits }),
          close: async () => {
            await dropPrefix(redis, prefix);
            await redis.quit();
          },
        };
      },
    },
  ];
}

/** A minimal video record for a store test, made at `at` (epoch ms). */
export function videoRecord(ids: TsidGenerator, ownerId: string, at = Date.now()): VideoRecord {
  return { id: ids.next(), ownerId, title: 't', description: '', createdAt: new Date(at).toISOString(), media: {} };
}
