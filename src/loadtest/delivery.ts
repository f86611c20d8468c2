/**
 * Delivery latency as other viewers see it, measured inside one shard (one process):
 *
 * - like -> counter: from the like's ack to the first `counters` event, at a socket of
 *   another account, carrying a version at or above the ack's `counters.version`
 *   (counters are coalesced, so a later version covers an earlier like).
 * - comment -> delivery: from the comment's ack to the `comment` event at each other
 *   socket that was watching the video when the ack came back and went on watching it.
 *
 * An event can overtake its ack (another process delivered it first); it counts as 0 ms
 * and as `delivery.beforeAck`. Anything not seen within `horizonMs` is counted as missed
 * (`delivery.likeMissed`, `delivery.commentMissed`) and dropped, so memory stays bounded.
 */
import type { ShardStats } from './stats.ts';

export interface Watchers {
  /** Sockets of this shard watching the video: client id -> account index. */
  of(videoId: string): ReadonlyMap<number, number> | undefined;
  /**
   * The log offset of the snapshot a socket's current watch started from: a comment at or
   * below it came in the snapshot, never as an event (absent: every comment is owed).
   */
  from?(client: number): number | undefined;
}

interface PendingLike {
  version: number;
  ackAt: number;
  liker: number;
}

interface PendingComment {
  ackAt: number;
  videoId: string;
  waiting: Set<number>;
}

export class DeliveryProbe {
  private readonly pendingLikes = new Map<string, PendingLike[]>();
  private readonly seenVersion = new Map<string, number>();
  private readonly pendingComments = new Map<string, PendingComment>();
  /** Comments of this shard seen before their ack: id -> first sighting and the sockets. */
  private readonly early = new Map<string, { at: number; clients: number[] }>();

  constructor(
    private readonly stats: ShardStats,
    private readonly watchers: Watchers,
    private readonly horizonMs = 10_000,
  ) {}

  likeAcked(videoId: string, liker: number, version: number, at: number): void {
    if ((this.seenVersion.get(videoId) ?? -1) >= version) {
      this.stats.latency('likeToCounter', 0);
      this.stats.count('delivery.beforeAck');
      return;
    }
    if (!this.watchedByOther(videoId, liker)) {
      this.stats.count('delivery.likeUnobserved');
      return;
    }
    let list = this.pendingLikes.get(videoId);
    if (!list) this.pendingLikes.set(videoId, (list = []));
    let i = list.length;
    while (i > 0 && (list[i - 1]?.version ?? 0) > version) i--;
    list.splice(i, 0, { version, ackAt: at, liker });
  }

  counters(account: number, videoId: string, version: number, at: number): void {
    if (version > (this.seenVersion.get(videoId) ?? -1)) this.seenVersion.set(videoId, version);
    const list = this.pendingLikes.get(videoId);
    if (!list) return;
    const keep: PendingLike[] = [];
    for (const p of list) {
      if (p.version <= version && p.liker !== account) this.stats.latency('likeToCounter', at - p.ackAt);
      else keep.push(p);
    }
    if (keep.length) this.pendingLikes.set(videoId, keep);
    else this.pendingLikes.delete(videoId);
  }

  /**
   * `offset`: the comment's place in the video's log. A socket whose watch snapshot already
   * reached it got the comment in the snapshot (its watch was answered after the comment was
   * committed, although the comment's own ack came back later), so it is owed no event.
   */
  commentAcked(commentId: string, videoId: string, author: number, at: number, offset = Infinity): void {
    const waiting = new Set<number>();
    for (const [client, account] of this.watchers.of(videoId) ?? []) {
      if (account !== author && !((this.watchers.from?.(client) ?? -1) >= offset)) waiting.add(client);
    }
    const early = this.early.get(commentId);
    if (early) {
      this.early.delete(commentId);
      for (const client of early.clients) {
        if (waiting.delete(client)) {
          this.stats.latency('commentDelivery', 0);
          this.stats.count('delivery.beforeAck');
        }
      }
    }
    if (waiting.size) this.pendingComments.set(commentId, { ackAt: at, videoId, waiting });
  }

  /** A comment event at a socket; `ours` says the comment was sent by this shard. */
  comment(client: number, commentId: string, ours: boolean, at: number): void {
    const p = this.pendingComments.get(commentId);
    if (p) {
      if (p.waiting.delete(client)) this.stats.latency('commentDelivery', at - p.ackAt);
      if (p.waiting.size === 0) this.pendingComments.delete(commentId);
      return;
    }
    if (!ours) return;
    const early = this.early.get(commentId);
    if (early) early.clients.push(client);
    else this.early.set(commentId, { at, clients: [client] });
  }

  /**
   * The socket stopped watching the video: it is owed none of the comments pending there. A
   * later watch starts from a fresh snapshot, so only a socket that watched from the ack on,
   * without a break, can miss a delivery.
   */
  left(client: number, videoId: string): void {
    for (const [id, p] of this.pendingComments) {
      if (p.videoId !== videoId || !p.waiting.delete(client)) continue;
      if (p.waiting.size === 0) this.pendingComments.delete(id);
    }
  }

  /** Comment deliveries still awaited by sockets that still watch the video. */
  awaited(): number {
    let n = 0;
    for (const p of this.pendingComments.values()) {
      const still = this.watchers.of(p.videoId);
      for (const client of p.waiting) if (still?.has(client)) n++;
    }
    return n;
  }

  /** The longest a delivery may take before it counts as missed. */
  get horizon(): number {
    return this.horizonMs;
  }

  /** Drops what is older than the horizon, counting deliveries that never came. */
  sweep(now: number): void {
    for (const [videoId, list] of this.pendingLikes) {
      const keep = list.filter((p) => now - p.ackAt < this.horizonMs);
      if (keep.length < list.length) this.stats.count('delivery.likeMissed', list.length - keep.length);
      if (keep.length) this.pendingLikes.set(videoId, keep);
      else this.pendingLikes.delete(videoId);
    }
    for (const [id, p] of this.pendingComments) {
      if (now - p.ackAt < this.horizonMs) continue;
      const still = this.watchers.of(p.videoId);
      let missed = 0;
      for (const client of p.waiting) if (still?.has(client)) missed++;
      if (missed) this.stats.count('delivery.commentMissed', missed);
      this.pendingComments.delete(id);
    }
    for (const [id, e] of this.early) if (now - e.at >= this.horizonMs) this.early.delete(id);
  }

  private watchedByOther(videoId: string, account: number): boolean {
    for (const a of this.watchers.of(videoId)?.values() ?? []) if (a !== account) return true;
    return false;
  }
}
