/** Feeds in memory: the inboxes and outboxes live in the user rows; one hot ranking. */
import { requireOffset } from '../cursor.ts';
import type { FeedEntry, FeedStore, HotPosition } from '../store.ts';
import { inboxEntry, inboxMember } from '../store.ts';
import type { MemoryTables } from './tables.ts';

/** The FeedStore of the memory driver. */
export class MemoryFeeds implements FeedStore {
  /**
   * The hot ranking, kept sorted (score desc, id desc) as scores change: a changed score moves one
   * entry (a binary search and a splice), so a read never sorts the whole ranking.
   */
  private readonly ranking: HotPosition[] = [];

  constructor(private readonly tables: MemoryTables) {}

  async pushToInboxes(userIds: string[], entry: FeedEntry, cap: number): Promise<void> {
    for (const id of userIds) {
      const inbox = this.tables.users.get(id)?.inbox;
      if (!inbox) continue;
      inbox.add(inboxMember(entry));
      inbox.trimTo(cap);
    }
  }

  async inbox(userId: string, before: string | undefined, limit: number): Promise<FeedEntry[]> {
    const inbox = this.tables.users.get(userId)?.inbox;
    return (inbox?.descending(before, limit) ?? []).map(inboxEntry);
  }

  async outbox(authorId: string, before: string | undefined, limit: number): Promise<string[]> {
    return this.tables.users.get(authorId)?.videos.descending(before, limit) ?? [];
  }

  async setHotScore(videoId: string, score: number | null): Promise<void> {
    const old = this.tables.hotScores.get(videoId);
    if (old !== undefined) this.ranking.splice(this.below({ id: videoId, score: old }) - 1, 1);
    if (score === null) {
      this.tables.hotScores.delete(videoId);
      return;
    }
    this.tables.hotScores.set(videoId, score);
    this.ranking.splice(this.below({ id: videoId, score }), 0, { id: videoId, score });
  }

  async hot(offset: number, limit: number): Promise<string[]> {
    requireOffset(offset);
    return this.ranking.slice(offset, offset + Math.max(0, limit)).map((p) => p.id);
  }

  async hotAfter(after: HotPosition | undefined, limit: number): Promise<HotPosition[]> {
    if (!(limit > 0)) return [];
    const start = after ? this.below(after) : 0;
    return this.ranking.slice(start, start + limit).map((p) => ({ ...p }));
  }

  /** The index of the first entry strictly after `at` in (score desc, id desc) order. */
  private below(at: HotPosition): number {
    const ranking = this.ranking;
    let lo = 0;
    let hi = ranking.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = ranking[mid]!;
      if (p.score > at.score || (p.score === at.score && p.id >= at.id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
