/** Rate-limit counters in Redis, shared by every process (RATE_STORE=redis). */
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitStore } from '../rate-limits.ts';
import type { RedisKeys } from './keys.ts';
import type { RedisClient } from './scripts.ts';

export class RedisRateLimitStore implements RateLimitStore {
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  limiter(name: string, points: number, durationS: number): RateLimiterAbstract {
    return new RateLimiterRedis({ storeClient: this.client, keyPrefix: this.keys.rateLimit(name), points, duration: durationS });
  }
}
