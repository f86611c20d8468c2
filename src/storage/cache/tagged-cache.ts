/**
 * Values built from several other cached things, dropped as soon as any of them changes.
 *
 * Each value is stored with the tags of what it was built from (a feed page: its reader and
 * each of its videos); `invalidateTag` drops every value carrying the tag. Bounded (LRU) and
 * with a TTL, so a value whose change notice never arrived (another process, a lost
 * pub/sub message) still goes stale no later than the caches it was built from.
 */
import { LRUCache } from 'lru-cache';
import { deleteEntry, entryCount } from './lru.ts';
import type { Clock } from '../../domain/clock.ts';

interface Tagged<V> {
  value: V;
  tags: readonly string[];
  expiresAt: number;
}

/** Invalidated tags remembered for `set(..., since)`; more than this many since a mark and the value is not kept. */
const RECENT = 1024;

/** What lru.ts leaves in place of a last entry deleted: no tags, so its disposal touches no index. */
const GONE: Tagged<never> = Object.freeze({ value: undefined as never, tags: [], expiresAt: 0 });

export class TaggedCache<V extends object> {
  private readonly lru: LRUCache<string, Tagged<V>>;
  private readonly keysByTag = new Map<string, Set<string>>();
  private invalidations = 0;
  /** The last RECENT invalidated tags, by invalidation number modulo RECENT. */
  private readonly recent: string[] = new Array<string>(RECENT);

  constructor(private readonly opts: { max: number; ttlMs: number; clock: Pick<Clock, 'now'> }) {
    this.lru = new LRUCache<string, Tagged<V>>({
      max: opts.max,
      // runs on eviction, expiry, replacement and delete alike: the tag index never leaks
      dispose: (entry, key) => {
        for (const tag of entry.tags) {
          const keys = this.keysByTag.get(tag);
          keys?.delete(key);
          if (keys?.size === 0) this.keysByTag.delete(tag);
        }
      },
    });
  }

  get(key: string): V | undefined {
    const entry = this.lru.get(key);
    if (!entry) return undefined;
    if (this.opts.clock.now() < entry.expiresAt) return entry.value;
    deleteEntry(this.lru, key, GONE);
    return undefined;
  }

  /** Taken before reading what a value is built from; pass it to `set`. */
  mark(): number {
    return this.invalidations;
  }

  /**
   * Keeps `value` under `key`, tagged. With `since` (a `mark()` taken before the value's
   * sources were read), a value one of whose tags was invalidated meanwhile is not kept: it
   * may hold the old state. Returns whether it was kept.
   */
  set(key: string, value: V, tags: readonly string[], since?: number): boolean {
    if (since !== undefined && this.invalidatedSince(since, tags)) return false;
    this.lru.set(key, { value, tags, expiresAt: this.opts.clock.now() + this.opts.ttlMs });
    for (const tag of tags) {
      let keys = this.keysByTag.get(tag);
      if (!keys) this.keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
    return true;
  }

  invalidateTag(tag: string): void {
    this.recent[++this.invalidations % RECENT] = tag;
    const keys = this.keysByTag.get(tag);
    if (!keys) return;
    for (const key of [...keys]) deleteEntry(this.lru, key, GONE);
  }

  private invalidatedSince(since: number, tags: readonly string[]): boolean {
    if (this.invalidations - since >= RECENT) return true; // too many to tell: assume so
    for (let n = since + 1; n <= this.invalidations; n++) if (tags.includes(this.recent[n % RECENT]!)) return true;
    return false;
  }

  get size(): number {
    return entryCount(this.lru);
  }

  /** Tags with at least one value: how much the index holds. */
  get tagCount(): number {
    return this.keysByTag.size;
  }
}
