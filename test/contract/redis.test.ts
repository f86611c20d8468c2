/**
 * The storage contract against real Redis (REDIS_URL, default redis://127.0.0.1:6379),
 * under a random key prefix that is removed afterwards.
 */
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { connectRedis, dropPrefix, randomPrefix } from '../helpers/redis.ts';
import { CONTRACT_LIMITS, storeContract } from './store.contract.ts';

storeContract('redis', async () => {
  const redis = await connectRedis();
  const prefix = randomPrefix('contract');
  const store = new RedisStore({ redis, prefix, limits: CONTRACT_LIMITS });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropPrefix(redis, prefix);
      await redis.quit();
    },
  };
});
