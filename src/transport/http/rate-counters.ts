/**
 * Where rate-limit counters live, as transport's limits use them: a maker of named
 * limiters. The storage layer provides them (storage/rate-limits.ts: in this process, or in
 * Redis so every process shares them); main.ts chooses which and passes it in, so transport
 * never reaches into storage for it.
 */
import type { RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateCounters {
  /** A limiter of `points` per `durationS` seconds; `name` keeps its counters apart from other limiters'. */
  limiter(name: string, points: number, durationS: number): RateLimiterAbstract;
  /**
   * The same limit counted in this process and answered synchronously, where the counters
   * live here; absent where they are shared (Redis). The limits every request passes use it.
   */
  localLimiter?(points: number, durationS: number): LocalCounts;
}

/** Synchronous counts: `take` answers 0 when allowed, else the ms until the key's window ends. */
export interface LocalCounts {
  take(key: string, points?: number): number;
}
