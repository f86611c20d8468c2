/**
 * Deleting from an lru-cache without ever emptying it. lru-cache's `delete` of its last entry
 * clears the whole cache, which fills arrays as long as `max` (CACHE_MAX_ENTRIES, 50,000
 * slots): a process whose cache held one hot video paid that on every write to the video
 * (docs/benchmarks.md, fanout: ~40 µs of a like's CPU). So the last entry gives way to a
 * placeholder under a key no caller uses instead; the least recently used entry from then on,
 * it is the first evicted once the cache fills again.
 */
import type { LRUCache } from 'lru-cache';

/** No id, tag or page key is empty or starts with a NUL. */
const PLACEHOLDER = '\u0000';

export function deleteEntry<V extends object>(lru: LRUCache<string, V>, key: string, placeholder: V): void {
  if (lru.size === 1 && lru.has(key)) lru.set(PLACEHOLDER, placeholder);
  lru.delete(key);
}

/** Entries that callers put there (the placeholder not counted). */
export function entryCount<V extends object>(lru: LRUCache<string, V>): number {
  return lru.size - (lru.has(PLACEHOLDER) ? 1 : 0);
}
