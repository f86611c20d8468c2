/**
 * A set of strings kept in lexicographic order: the in-memory twin of a Redis sorted
 * set whose members share one score (ZRANGEBYLEX). Ids are TSIDs, so lexicographic
 * order is time order.
 */
export class SortedIds {
  private readonly items: string[] = [];

  get size(): number {
    return this.items.length;
  }

  has(id: string): boolean {
    const i = this.lowerBound(id);
    return this.items[i] === id;
  }

  /** True when added, false when already present. */
  add(id: string): boolean {
    const i = this.lowerBound(id);
    if (this.items[i] === id) return false;
    this.items.splice(i, 0, id);
    return true;
  }

  delete(id: string): boolean {
    const i = this.lowerBound(id);
    if (this.items[i] !== id) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** Up to `limit` ids strictly after `after` (or from the start), ascending. */
  ascending(after: string | undefined, limit: number): string[] {
    const start = after === undefined ? 0 : this.upperBound(after);
    return this.items.slice(start, start + limit);
  }

  /** Up to `limit` ids strictly before `before` (or from the end), descending. */
  descending(before: string | undefined, limit: number): string[] {
    const end = before === undefined ? this.items.length : this.lowerBound(before);
    return this.items.slice(Math.max(0, end - limit), end).reverse();
  }

  /** Drops the smallest ids until at most `cap` remain. */
  trimTo(cap: number): void {
    if (this.items.length > cap) this.items.splice(0, this.items.length - cap);
  }

  all(): readonly string[] {
    return this.items;
  }

  private lowerBound(id: string): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private upperBound(id: string): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]! <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
