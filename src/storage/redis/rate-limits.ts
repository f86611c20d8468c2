/** Rate-limit counters in Redis, shared by every process (RATE_STORE=redis). */
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitStore } from '../rate-limits.ts';
import type { RedisKeys } from './keys.ts';
import { io, type RedisClient } from './scripts.ts';

export class RedisRateLimitStore implements RateLimitStore {
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  limiter(name: string, points: number, durationS: number): RateLimiterAbstract {
    return new RateLimiterRedis({ storeClient: this.client, keyPrefix: this.keys.rateLimit(name), points, duration: durationS });
  }

  /** One `SET NX PX` per key (keys may be in different Cluster slots); the taken ones are given back when any was refused. */
  async takeWindows(name: string, keys: readonly string[], ms: number): Promise<boolean> {
    if (new Set(keys).size !== keys.length) return false;
    const ids = keys.map((k) => `${this.keys.rateLimit(name)}:${k}`);
    const replies = await io(() => Promise.all(ids.map((id) => this.client.set(id, '1', 'PX', Math.max(1, Math.trunc(ms)), 'NX'))));
    if (replies.every((r) => r === 'OK')) return true;
    const taken = ids.filter((_, i) => replies[i] === 'OK');
    if (taken.length) await io(() => Promise.all(taken.map((id) => this.client.del(id))));
    return false;
  }

  async releaseWindows(name: string, keys: readonly string[]): Promise<void> {
    if (keys.length) await io(() => Promise.all(keys.map((k) => this.client.del(`${this.keys.rateLimit(name)}:${k}`))));
  }
}
