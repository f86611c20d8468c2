/**
 * Values built from several other cached things, dropped as soon as any of them changes.
 *
 * Each value is stored with the tags of what it was built from (a feed page: its reader and
 * each of its videos); `invalidateTag` drops every value carrying the tag. Bounded (LRU) and
 * with a TTL, so a value whose change notice never arrived (another process, a lost
 * pub/sub message) still goes stale no later than the caches it was built from.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../domain/clock.ts';

interface Tagged<V> {
  value: V;
  tags: readonly string[];
  expiresAt: number;
}

export class TaggedCache<V extends object> {
  private readonly lru: LRUCache<string, Tagged<V>>;
  private readonly keysByTag = new Map<string, Set<string>>();

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
    this.lru.delete(key);
    return undefined;
  }

  set(key: string, value: V, tags: readonly string[]): void {
    this.lru.set(key, { value, tags, expiresAt: this.opts.clock.now() + this.opts.ttlMs });
    for (const tag of tags) {
      let keys = this.keysByTag.get(tag);
      if (!keys) this.keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  invalidateTag(tag: string): void {
    const keys = this.keysByTag.get(tag);
    if (!keys) return;
    for (const key of [...keys]) this.lru.delete(key);
  }

  get size(): number {
    return this.lru.size;
  }

  /** Tags with at least one value: how much the index holds. */
  get tagCount(): number {
    return this.keysByTag.size;
  }
}
