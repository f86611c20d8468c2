/**
 * Where rate-limit counters live. Transport's limits (requests per IP and per user,
 * sign-ups, logins, failed logins, socket events per user) decide what to count; this
 * store decides where: in this process (`MemoryRateLimitStore`), or in Redis so every
 * process shares the counters (`RedisRateLimitStore`, storage/redis/rate-limits.ts).
 * Limiters are rate-limiter-flexible's, whose interface is the same for every backend.
 */
import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateLimitStore {
  /** A limiter of `points` per `durationS` seconds; `name` keeps its counters apart from other limiters'. */
  limiter(name: string, points: number, durationS: number): RateLimiterAbstract;
}

/** Counters in this process's memory: each process limits on its own. */
export class MemoryRateLimitStore implements RateLimitStore {
  limiter(name: string, points: number, durationS: number): RateLimiterAbstract {
    return new RateLimiterMemory({ keyPrefix: name, points, duration: durationS });
  }
}
