/** Feeds in memory: the inboxes and outboxes live in the user rows; one hot ranking. */
import { requireOffset } from '../cursor.ts';
import type { FeedEntry, FeedStore, HotPosition } from '../store.ts';
import { inboxEntry, inboxMember } from '../store.ts';
import type { MemoryTables } from './tables.ts';

/** The FeedStore of the memory driver. */
export class MemoryFeeds implements FeedStore {
  /** The hot ranking sorted, rebuilt on the first read after a score changed (scores are written in batches). */
  private ranking: HotPosition[] | undefined;

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
    if (score === null) this.tables.hotScores.delete(videoId);
    else this.tables.hotScores.set(videoId, score);
    this.ranking = undefined;
  }

  async hot(offset: number, limit: number): Promise<string[]> {
    requireOffset(offset);
    return this.sorted()
      .slice(offset, offset + Math.max(0, limit))
      .map((p) => p.id);
  }

  async hotAfter(after: HotPosition | undefined, limit: number): Promise<HotPosition[]> {
    const ranking = this.sorted();
    if (!(limit > 0)) return [];
    let start = 0;
    if (after) {
      // the first entry strictly below `after` in (score desc, id desc) order
      let lo = 0;
      let hi = ranking.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const p = ranking[mid]!;
        if (p.score > after.score || (p.score === after.score && p.id >= after.id)) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    return ranking.slice(start, start + limit).map((p) => ({ ...p }));
  }

  private sorted(): HotPosition[] {
    return (this.ranking ??= [...this.tables.hotScores]
      .map(([id, score]) => ({ id, score }))
      .sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1)));
  }
}
