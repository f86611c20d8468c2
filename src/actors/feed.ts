/**
 * Feeds: hybrid fan-out on write, merge on read.
 *
 * - Publishing: an author with at most `pushMaxFollowers` followers has the new video
 *   pushed into every follower's inbox, FANOUT_BATCH inboxes per storage call, on a
 *   background queue (never on the request path). Every follower also gets `feed:new`.
 * - Reading: the inbox merged with the outboxes of followed authors above the threshold
 *   (pulled at read time), newest first by TSID. The cursor is the last video id shown,
 *   so a page boundary never moves: no gaps and no duplicates across pages, whichever
 *   way a post arrived (a post present both ways is shown once).
 * - Unfollowed authors and deleted videos are filtered at read time.
 * - The queue is bounded (`maxQueued`): a post takes its place before it is written, so a
 *   full queue refuses the post (E_BUSY, retry shortly) rather than dropping its fan-out.
 */
import { pushesToInboxes } from '../domain/feed-policy.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Page, PageRequest, VideoRecord } from '../protocol/model.ts';
import { decodeCursor, encodeCursor } from '../storage/cursor.ts';
import type { Store } from '../storage/store.ts';
import type { EventSink } from './events.ts';

export interface FeedOptions {
  pushMaxFollowers: number;
  inboxMax: number;
  fanoutBatch: number;
  /** Posts whose fan-out may wait at once; above it new posts are refused with E_BUSY. */
  maxQueued: number;
}

/** A place in the fan-out queue; exactly one of its methods takes effect. */
export interface FanoutTicket {
  /** The video was written: queue its fan-out. */
  publish(video: VideoRecord): void;
  /** The write failed: give the place back. */
  release(): void;
}

export interface FeedDeps {
  store: Store;
  sink: EventSink;
  options: FeedOptions;
  /** Follower count through the profile cache (a feed read asks for every followed author). */
  followerCount: (userId: string) => Promise<number>;
  /** Which of these videos still exist (through the video cache). */
  existing: (videoIds: string[]) => Promise<boolean[]>;
  onError: (err: unknown, context: string) => void;
  /** Told after posts were pushed into these users' inboxes (their cached feed pages are stale). */
  onInboxesChanged?: (userIds: string[]) => void;
}

export class FeedService {
  private queue: Promise<void> = Promise.resolve();
  /** Fan-outs queued or running. */
  private pending = 0;
  /** Places taken by posts still being written. */
  private reserved = 0;

  constructor(private readonly deps: FeedDeps) {}

  /** Takes a place for a post about to be written; E_BUSY when the queue is full. */
  reserve(): FanoutTicket {
    if (this.pending + this.reserved >= this.deps.options.maxQueued) {
      throw new TremoloError('E_BUSY', 'Too many new posts are waiting to reach followers; retry shortly', { retryAfter: 1 });
    }
    this.reserved++;
    let used = false;
    const take = (): boolean => {
      if (used) return false;
      used = true;
      this.reserved--;
      return true;
    };
    return {
      publish: (video) => {
        if (take()) this.enqueue(video);
      },
      release: () => void take(),
    };
  }

  /** Fan-outs waiting or running, and places reserved (metrics, tests). */
  get depth(): number {
    return this.pending + this.reserved;
  }

  /** Resolves when every queued fan-out has finished (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.pending > 0) await this.queue;
  }

  private enqueue(video: VideoRecord): void {
    this.pending++;
    this.queue = this.queue
      .then(() => this.fanOut(video))
      .catch((err: unknown) => this.deps.onError(err, `fan-out of video ${video.id}`))
      .finally(() => this.pending--);
  }

  private async fanOut(video: VideoRecord): Promise<void> {
    const { store, sink, options } = this.deps;
    const push = pushesToInboxes(await store.users.followerCount(video.ownerId), options.pushMaxFollowers);
    const entry = { videoId: video.id, authorId: video.ownerId };
    let cursor: string | undefined;
    do {
      const page = await store.users.followers(video.ownerId, { cursor, limit: options.fanoutBatch });
      if (page.items.length) {
        if (push) await store.feeds.pushToInboxes(page.items, entry, options.inboxMax);
        this.deps.onInboxesChanged?.(page.items);
        sink.publish({ type: 'feed:new', userIds: page.items, videoId: video.id, authorId: video.ownerId });
      }
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** The following feed of `userId`: video ids, newest first. */
  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    const { store, options } = this.deps;
    const followed = await store.users.allFollowing(userId);
    const followedSet = new Set(followed);
    const counts = await Promise.all(followed.map((id) => this.deps.followerCount(id)));
    const pulled = followed.filter((_, i) => !pushesToInboxes(counts[i]!, options.pushMaxFollowers));

    const want = page.limit + 1;
    const chunk = Math.max(want, 20);
    const out: string[] = [];
    const seen = new Set<string>();
    let before = decodeCursor(page.cursor);
    while (out.length < want) {
      const [inbox, ...outboxes] = await Promise.all([
        store.feeds.inbox(userId, before, chunk),
        ...pulled.map((author) => store.feeds.outbox(author, before, chunk)),
      ]);
      const sources: { ids: string[]; authorOf: (i: number) => string }[] = [
        { ids: inbox!.map((e) => e.videoId), authorOf: (i) => inbox![i]!.authorId },
        ...outboxes.map((ids, k) => ({ ids: ids as string[], authorOf: () => pulled[k]! })),
      ];
      // Below the last id of a source that returned a full chunk, that source may hold more
      // items not fetched yet: only ids at or above the highest such frontier are final.
      let frontier = '';
      for (const s of sources) if (s.ids.length === chunk && s.ids[s.ids.length - 1]! > frontier) frontier = s.ids[s.ids.length - 1]!;
      const candidates = new Map<string, string>(); // videoId -> authorId
      for (const s of sources) {
        s.ids.forEach((id, i) => {
          if (id >= frontier && !seen.has(id)) candidates.set(id, s.authorOf(i));
        });
      }
      const ordered = [...candidates.keys()].sort().reverse();
      if (ordered.length === 0) break;
      const exists = await this.deps.existing(ordered);
      ordered.forEach((id, i) => {
        seen.add(id);
        if (exists[i] && followedSet.has(candidates.get(id)!) && out.length < want) out.push(id);
      });
      before = ordered[ordered.length - 1];
      if (frontier === '') break; // every source is exhausted
    }
    const items = out.slice(0, page.limit);
    return out.length > page.limit ? { items, nextCursor: encodeCursor(items[items.length - 1]!) } : { items };
  }
}
