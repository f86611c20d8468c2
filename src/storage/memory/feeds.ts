/** Feeds in memory: the inboxes and outboxes live in the user rows; one hot ranking. */
import { requireOffset } from '../cursor.ts';
import type { FeedEntry, FeedStore } from '../store.ts';
import { inboxEntry, inboxMember } from '../store.ts';
import type { MemoryTables } from './tables.ts';

/** The FeedStore of the memory driver. */
export class MemoryFeeds implements FeedStore {
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
  }

  async hot(offset: number, limit: number): Promise<string[]> {
    requireOffset(offset);
    return [...this.tables.hotScores]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
      .slice(offset, offset + limit)
      .map(([id]) => id);
  }
}
