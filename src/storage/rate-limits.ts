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
  /**
   * Windows of one event per key (e.g. one progress report per viewer and video): takes
   * every key of `keys` for `ms`, all or none. False, with nothing taken, when any is still
   * taken. Millisecond precision (rate-limiter-flexible's limiters count whole seconds).
   */
  takeWindows(name: string, keys: readonly string[], ms: number): Promise<boolean>;
  /** Gives taken windows back (what they allowed did not happen after all). */
  releaseWindows(name: string, keys: readonly string[]): Promise<void>;
}

/** Windows kept in memory before the expired ones are swept. */
const WINDOWS_SWEEP_AT = 100_000;

/** Counters in this process's memory: each process limits on its own. */
export class MemoryRateLimitStore implements RateLimitStore {
  /** `${name}|${key}` -> when its window ends (ms). */
  readonly #windows = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  limiter(name: string, points: number, durationS: number): RateLimiterAbstract {
    return new RateLimiterMemory({ keyPrefix: name, points, duration: durationS });
  }

  /** The same counting as `limiter`, answered at once: what counts every request needs no promise here. */
  localLimiter(points: number, durationS: number): LocalLimiter {
    return new LocalLimiter(points, durationS * 1000, this.now);
  }

  async takeWindows(name: string, keys: readonly string[], ms: number): Promise<boolean> {
    const now = this.now();
    const ids = keys.map((k) => `${name}|${k}`);
    if (new Set(ids).size !== ids.length || ids.some((id) => (this.#windows.get(id) ?? 0) > now)) return false;
    if (this.#windows.size >= WINDOWS_SWEEP_AT) for (const [id, end] of this.#windows) if (end <= now) this.#windows.delete(id);
    for (const id of ids) this.#windows.set(id, now + ms);
    return true;
  }

  async releaseWindows(name: string, keys: readonly string[]): Promise<void> {
    for (const k of keys) this.#windows.delete(`${name}|${k}`);
  }
}

/** Keys counted before the expired ones are swept (then again at twice the live count). */
const COUNTS_SWEEP_AT = 10_000;

/**
 * `points` per key in fixed windows of `windowMs`, each starting at its key's first take, as
 * rate-limiter-flexible's RateLimiterMemory counts them, but synchronous: a take is a map
 * lookup and an increment, with no promise, result object or timer per key.
 */
export class LocalLimiter {
  readonly #counts = new Map<string, { taken: number; endsAt: number }>();
  #sweepAt = COUNTS_SWEEP_AT;

  constructor(
    readonly points: number,
    readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** Takes `points` for `key`: 0 when allowed, else the ms until its window ends (the take still counts, as the library's does). */
  take(key: string, points = 1): number {
    const now = this.now();
    let count = this.#counts.get(key);
    if (count === undefined || count.endsAt <= now) {
      if (count === undefined && this.#counts.size >= this.#sweepAt) this.#sweep(now);
      count = { taken: 0, endsAt: now + this.windowMs };
      this.#counts.set(key, count);
    }
    count.taken += points;
    return count.taken > this.points ? Math.max(1, count.endsAt - now) : 0;
  }

  #sweep(now: number): void {
    for (const [key, count] of this.#counts) if (count.endsAt <= now) this.#counts.delete(key);
    this.#sweepAt = Math.max(COUNTS_SWEEP_AT, 2 * this.#counts.size);
  }
}
