/**
 * The in-process level of the two-level cache (the other level is the store).
 *
 * - LRU (lru-cache) bounded by `max`; entries expire after `ttlMs` (`negativeTtlMs` for
 *   not-found results, so a missing id does not hit storage on every request).
 * - Concurrent misses for one key share one load (request coalescing).
 * - A hit within `refreshAheadMs` of expiry returns at once and refreshes in the
 *   background, so hot keys never expire under load.
 * - When a load fails because storage is unavailable, an expired entry is served
 *   and marked `degraded` rather than failing the read.
 * Entries are kept past their TTL (until evicted) for exactly that last case.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../domain/clock.ts';
import { TremoloError } from '../../protocol/errors.ts';
import type { CacheLookups, CacheMetrics } from '../../metrics.ts';
import { deleteEntry, entryCount } from './lru.ts';

export interface CacheRead<V> {
  value: V | null;
  /** True when storage failed and this value may be out of date. */
  degraded: boolean;
}

export interface ReadCacheOptions<V> {
  name: string;
  max: number;
  ttlMs: number;
  negativeTtlMs: number;
  /** Default: a fifth of the TTL. */
  refreshAheadMs?: number;
  load: (key: string) => Promise<V | null>;
  clock: Pick<Clock, 'now'>;
  metrics?: CacheMetrics;
}

interface Entry<V> {
  value: V | null;
  expiresAt: number;
}

/** What lru.ts leaves in place of a last entry invalidated: never read (no caller asks for its key). */
const GONE: Entry<never> = Object.freeze({ value: null, expiresAt: 0 });

export class ReadCache<V extends object> {
  private readonly lru: LRUCache<string, Entry<V>>;
  /** Loads under way. invalidate() drops a key's entry, so a load it overtook never stores its result. */
  private readonly inflight = new Map<string, Promise<V | null>>();
  private readonly refreshAheadMs: number;
  private readonly lookups: CacheLookups | undefined;

  constructor(private readonly opts: ReadCacheOptions<V>) {
    this.lru = new LRUCache({ max: opts.max });
    this.lookups = opts.metrics?.lookups(opts.name);
    this.refreshAheadMs = opts.refreshAheadMs ?? Math.floor(opts.ttlMs / 5);
  }

  async get(key: string): Promise<CacheRead<V>> {
    return this.hit(key, this.opts.clock.now()) ?? this.miss(key);
  }

  /** Several keys at once, in order: hits cost no promise each, only the misses load (together). */
  async getMany(keys: readonly string[]): Promise<CacheRead<V>[]> {
    const now = this.opts.clock.now();
    const out = new Array<CacheRead<V>>(keys.length);
    let misses: Promise<void>[] | undefined;
    keys.forEach((key, i) => {
      const hit = this.hit(key, now);
      if (hit) out[i] = hit;
      else (misses ??= []).push(this.miss(key).then((r) => void (out[i] = r)));
    });
    if (misses) await Promise.all(misses);
    return out;
  }

  /** Drops a key (after a write here, or when another process says it changed). */
  invalidate(key: string): void {
    deleteEntry(this.lru, key, GONE);
    this.inflight.delete(key);
  }

  /** Puts a fresh value (e.g. the authoritative state a write returned). */
  set(key: string, value: V | null): void {
    const ttl = value === null ? this.opts.negativeTtlMs : this.opts.ttlMs;
    this.lru.set(key, { value, expiresAt: this.opts.clock.now() + ttl });
  }

  get size(): number {
    return entryCount(this.lru);
  }

  /** A live entry, refreshed in the background when it is close to expiry. */
  private hit(key: string, now: number): CacheRead<V> | undefined {
    const entry = this.lru.get(key);
    if (!entry || now >= entry.expiresAt) return undefined;
    this.count(entry.value === null ? 'negative' : 'hit');
    if (entry.value !== null && entry.expiresAt - now <= this.refreshAheadMs && !this.inflight.has(key)) {
      this.count('refresh');
      this.load(key).catch(() => {
        /* the entry stays; the next miss reports the failure */
      });
    }
    return { value: entry.value, degraded: false };
  }

  private async miss(key: string): Promise<CacheRead<V>> {
    const entry = this.lru.get(key);
    this.count(entry ? 'stale' : 'miss');
    try {
      return { value: await this.load(key), degraded: false };
    } catch (err) {
      if (entry && err instanceof TremoloError && err.code === 'E_STORAGE_UNAVAILABLE') {
        this.count('degraded');
        return { value: entry.value, degraded: true };
      }
      throw err;
    }
  }

  private load(key: string): Promise<V | null> {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.opts.load(key).then(
      (value) => {
        if (this.inflight.get(key) === p) {
          this.inflight.delete(key);
          this.set(key, value);
        }
        return value;
      },
      (err: unknown) => {
        if (this.inflight.get(key) === p) this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private count(result: keyof CacheLookups): void {
    if (this.lookups) this.lookups[result]++;
  }
}
