/**
 * The storage contract against real Redis (REDIS_URL, default redis://127.0.0.1:6379),
 * under a random key prefix that is removed afterwards. Outages use a private redis-server
 * that the test kills and restarts.
 */
import type { StoreLimits } from '../../src/storage/store.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { connectRedis, dropPrefix, randomPrefix, startRedis } from '../helpers/redis.ts';
import { CONTRACT_LIMITS, storeContract, type StorageOutage } from './store.contract.ts';

async function open(limits: StoreLimits = CONTRACT_LIMITS) {
  const redis = await connectRedis();
  const prefix = randomPrefix('contract');
  const store = new RedisStore({ redis, prefix, limits });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropPrefix(redis, prefix);
      await redis.quit();
    },
  };
}

async function outage(): Promise<StorageOutage> {
  const server = await startRedis();
  const store = await RedisStore.connect({ url: server.url, prefix: 'outage:', limits: CONTRACT_LIMITS, timeoutMs: 500 });
  return {
    store,
    stop: () => server.stop(),
    start: () => server.start(),
    cleanup: async () => {
      await store.close();
      await server.stop();
    },
  };
}

storeContract('redis', open, { outage });
