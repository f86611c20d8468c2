/**
 * Exactly-once delivery across a `video:watch`, at the protocol level: a plain Socket.IO
 * client that (re-)watches with `sinceOffset` sees every comment event once, in offset order,
 * whatever was committed while the watch was in flight, without dropping duplicates itself
 * (Centrifugo merges recovered and buffered publications the same way).
 *
 * - Holds. While a watch is answered the socket is out of the video's room; what the room is
 *   sent meanwhile is held for it. After the ack, the socket joins and is sent only the held
 *   events above the ack's newest offset.
 * - Fresh joiners. An ack may carry events that are durable but not yet published (the
 *   watch read the log before the writer's turn released them); the room gets them after the
 *   socket joined. Until the room has been sent something newer than a joiner's ack, each
 *   batch goes to that socket filtered to what is above its ack.
 * - A re-watch on the same connection cannot know which events are already on their way to
 *   the client: such a client sends `video:unwatch` first, then watches from the last offset it
 *   has seen (docs/protocol.md says so). The ack carries exactly what was asked for.
 *
 * Offsets are one total order per video, published in order by the process that commits;
 * events of one video committed by several processes at once may still reach a room out of
 * order, which the `prev` chain shows the client.
 */
import type { CommentAdded, CommentDeleted, CounterPayload } from '../../protocol/live.ts';

/** What one socket is owed for one video once its watch is acknowledged. */
export interface WatchHold {
  readonly socketId: string;
  readonly videoId: string;
  added: CommentAdded[];
  deleted: CommentDeleted[];
  counters?: CounterPayload;
}

/** The held events still to send after the ack. */
export interface HeldEvents {
  added: CommentAdded[];
  deleted: CommentDeleted[];
  counters?: CounterPayload;
}

export class WatchHolds {
  private readonly byVideo = new Map<string, Set<WatchHold>>();
  private readonly perSocket = new Map<string, number>();
  /** videoId -> socket id -> the ack offset it joined at, until the room has passed it. */
  private readonly fresh = new Map<string, Map<string, number>>();
  /**
   * videoId -> at least the highest ack offset among its fresh joiners (exact after each
   * `joinedAtOrAbove` scan): a counter update above it concerns none of them, found without
   * walking the joiners. Counters do not settle joiners (only comment batches do), so a room
   * that only sees likes keeps every joiner fresh: 10,000 of them walked per slice written.
   */
  private readonly freshMax = new Map<string, number>();

  /** Starts holding the video's events for a socket whose watch is being answered. */
  begin(socketId: string, videoId: string): WatchHold {
    const hold: WatchHold = { socketId, videoId, added: [], deleted: [] };
    let holds = this.byVideo.get(videoId);
    if (!holds) this.byVideo.set(videoId, (holds = new Set()));
    holds.add(hold);
    this.perSocket.set(socketId, (this.perSocket.get(socketId) ?? 0) + 1);
    return hold;
  }

  /** Watches of this socket still being answered (they count against its watch limit). */
  pendingFor(socketId: string): number {
    return this.perSocket.get(socketId) ?? 0;
  }

  /** A batch of comment events the video's room was just sent. */
  comments(videoId: string, added: readonly CommentAdded[], deleted: readonly CommentDeleted[]): void {
    for (const hold of this.byVideo.get(videoId) ?? []) {
      hold.added.push(...added);
      hold.deleted.push(...deleted);
    }
  }

  /** Counters of the video for its holds: only the newest is kept, as it supersedes the rest. */
  counters(payload: CounterPayload): void {
    for (const hold of this.byVideo.get(payload.videoId) ?? []) {
      if (!hold.counters || payload.offset > hold.counters.offset) hold.counters = payload;
    }
  }

  /** A socket joined the video's room with an ack that covered events up to `ackedOffset`. */
  joined(videoId: string, socketId: string, ackedOffset: number): void {
    let sockets = this.fresh.get(videoId);
    if (!sockets) this.fresh.set(videoId, (sockets = new Map()));
    sockets.set(socketId, ackedOffset);
    this.freshMax.set(videoId, Math.max(this.freshMax.get(videoId) ?? -Infinity, ackedOffset));
  }

  /** Fresh joiners of the video whose ack covered `offset` or more (undefined: none). */
  joinedAtOrAbove(videoId: string, offset: number): Set<string> | undefined {
    const sockets = this.fresh.get(videoId);
    if (!sockets || (this.freshMax.get(videoId) ?? -Infinity) < offset) return undefined;
    let ids: Set<string> | undefined;
    let max = -Infinity;
    for (const [id, acked] of sockets) {
      if (acked >= offset) (ids ??= new Set()).add(id);
      if (acked > max) max = acked;
    }
    this.freshMax.set(videoId, max);
    return ids;
  }

  /** Sockets that joined the room at an offset that events still to come may predate. */
  freshIn(videoId: string): ReadonlyMap<string, number> | undefined {
    return this.fresh.get(videoId);
  }

  /** The room was just sent events up to `offset`: joiners whose ack it has passed are settled. */
  passed(videoId: string, offset: number): void {
    const sockets = this.fresh.get(videoId);
    if (!sockets) return;
    for (const [id, acked] of sockets) if (offset > acked) sockets.delete(id);
    if (sockets.size === 0) this.forgetFresh(videoId);
  }

  /** The socket stopped watching the video. */
  unwatched(videoId: string, socketId: string): void {
    const sockets = this.fresh.get(videoId);
    sockets?.delete(socketId);
    if (sockets?.size === 0) this.forgetFresh(videoId);
  }

  /** The room is gone (no socket watches the video here). */
  roomClosed(videoId: string): void {
    this.forgetFresh(videoId);
  }

  private forgetFresh(videoId: string): void {
    this.fresh.delete(videoId);
    this.freshMax.delete(videoId);
  }

  /**
   * Stops holding and returns what the socket has not seen: held events above `ackedOffset`,
   * the newest offset its ack covered. Without `ackedOffset` (the watch failed) nothing.
   */
  end(hold: WatchHold, ackedOffset?: number): HeldEvents {
    const holds = this.byVideo.get(hold.videoId);
    holds?.delete(hold);
    if (holds?.size === 0) this.byVideo.delete(hold.videoId);
    const n = (this.perSocket.get(hold.socketId) ?? 1) - 1;
    if (n <= 0) this.perSocket.delete(hold.socketId);
    else this.perSocket.set(hold.socketId, n);
    if (ackedOffset === undefined) return { added: [], deleted: [] };
    const newer = <E extends { offset: number }>(e: E) => e.offset > ackedOffset;
    return {
      added: hold.added.filter(newer),
      deleted: hold.deleted.filter(newer),
      ...(hold.counters && newer(hold.counters) ? { counters: hold.counters } : {}),
    };
  }
}

