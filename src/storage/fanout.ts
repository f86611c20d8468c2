/**
 * The durable fan-out queue: one entry per new post whose followers' inboxes still need it.
 * Any process claims entries; the holder saves, after each page of followers, how far it got
 * (the follower cursor) and so keeps its lease. An entry whose holder stopped reporting for a
 * lease is claimed by another process, which goes on from the saved cursor. Inbox writes are
 * idempotent (an inbox is a set keyed by video id), so a page done twice is harmless.
 *
 * On Redis: a stream with a consumer group (XADD, XREADGROUP, XAUTOCLAIM, XACK); in memory,
 * the same semantics in one process.
 */

/** What a fan-out entry asks for: push `videoId` by `authorId` to every follower. */
export interface FanoutTask {
  videoId: string;
  authorId: string;
  /** When the post was queued (ms since the epoch; the oldest entry's age is the lag metric). */
  at: number;
  /** W3C traceparent of the post's request (tracing on): the fan-out, in whichever process, continues its trace. */
  traceparent?: string;
  /** W3C `tracestate` that came with it (vendors' entries), passed on with it. */
  tracestate?: string;
}

/** An entry this consumer now holds. */
export interface FanoutClaim {
  id: string;
  task: FanoutTask;
  /** The follower cursor saved by an earlier holder: the fan-out goes on from there. */
  cursor?: string;
  /** True when the entry was taken over from a holder whose lease lapsed (or who released it). */
  resumed: boolean;
}

/** How far behind fan-out is: entries waiting or in progress, and when the oldest was queued. */
export interface FanoutLag {
  waiting: number;
  /** `at` of the oldest entry; null when none waits. */
  oldestAt: number | null;
}

export interface FanoutQueue {
  /**
   * Queues a post's fan-out. With `max` entries already waiting (in progress included) it
   * fails with E_BUSY and queues nothing. Resolves with the entry id and the entries now waiting.
   */
  enqueue(task: FanoutTask, max: number): Promise<{ id: string; waiting: number }>;
  /**
   * Claims up to `limit` entries for `consumer`: first entries whose holder has not reported
   * for `leaseMs` (taken over with their cursor), then new ones. `now` is the memory driver's
   * clock; Redis measures idle time itself.
   */
  claim(consumer: string, opts: { limit: number; leaseMs: number; now: number }): Promise<FanoutClaim[]>;
  /**
   * Saves the follower cursor reached and renews the lease. False when `consumer` no longer
   * holds the entry (another process took it over, or it is done): the caller stops.
   */
  progress(id: string, consumer: string, cursor: string, opts: { now: number }): Promise<boolean>;
  /**
   * Gives the entry back (graceful shutdown) with its cursor: claimable at once by any process.
   * False when `consumer` no longer holds it.
   */
  release(id: string, consumer: string, opts: { leaseMs: number; now: number }): Promise<boolean>;
  /** The fan-out is done: the entry and its cursor go. Idempotent. */
  complete(id: string): Promise<void>;
  lag(): Promise<FanoutLag>;
}
