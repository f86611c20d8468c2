/**
 * The behaviour log's wire contract: one immutable event per acknowledged interaction,
 * written in the same atomic storage write as the state change it records (see
 * storage/interactions.ts), exported to ClickHouse and NATS (src/export), and served to
 * backend consumers (gRPC SubscribeInteractions) from the same streams.
 *
 * Versioned: `v` is INTERACTION_SCHEMA_VERSION when the event was written. A change that
 * removes or retypes a field bumps it; adding an event type or an optional field does not.
 *
 * To add an event type, add a key to `InteractionTypes` with its typed properties (and a
 * column mapping in src/export/clickhouse/rows.ts if it needs one): every union below follows.
 */

export const INTERACTION_SCHEMA_VERSION = 1;

/** Where a feed item was shown (an impression). */
export type FeedKind = 'following' | 'hot' | 'foryou' | 'tag' | 'profile';
export const FEED_KINDS: readonly FeedKind[] = ['following', 'hot', 'foryou', 'tag', 'profile'];

/** Each event type and the properties only it carries. */
export interface InteractionTypes {
  /** A viewer started a video (counted or deduplicated: both are an interaction). */
  view: { videoId: string };
  /** Watch progress reported by a client: cumulative watched ms in this viewing, where the playhead is. */
  watch: { videoId: string; watchedMs: number; positionMs: number; durationMs: number; completed: boolean };
  like: { videoId: string };
  unlike: { videoId: string };
  comment: { videoId: string; commentId: string };
  comment_delete: { videoId: string; commentId: string };
  comment_like: { videoId: string; commentId: string };
  comment_unlike: { videoId: string; commentId: string };
  follow: { targetId: string };
  unfollow: { targetId: string };
  /** A feed item shown to a viewer. */
  impression: { videoId: string; feed: FeedKind; position: number };
  /**
   * A resumable upload finished and its media job was recorded (`userId` is the uploader).
   * The video does not exist yet: the job's `job_stage` event of stage `ready` (published)
   * carries the `videoId`; `videoId` here is only set if a later version knows it up front.
   */
  upload: { jobId: string; uploadId: string; bytes: number; mime: string; videoId?: string };
  /**
   * A media job moved to another stage (`queued`, `probing`, `transcoding`, `tagging`, then
   * `ready` = published, `failed` or `cancelled`); `userId` is the job's owner, `videoId` is
   * set once the video exists.
   */
  job_stage: { jobId: string; stage: string; videoId?: string };
}

export type InteractionType = keyof InteractionTypes;

export const INTERACTION_TYPES = [
  'view',
  'watch',
  'like',
  'unlike',
  'comment',
  'comment_delete',
  'comment_like',
  'comment_unlike',
  'follow',
  'unfollow',
  'impression',
  'upload',
  'job_stage',
] as const satisfies readonly InteractionType[];

/** What every event carries. Exactly one of `userId` (signed in) and `sessionId` (anonymous). */
export interface InteractionBase<T extends InteractionType> {
  /** Schema version. */
  v: number;
  /** A TSID: unique, time-sorted; the dedup key of every sink. */
  id: string;
  type: T;
  /** When it happened (ms since the Unix epoch, server clock). */
  at: number;
  userId?: string;
  sessionId?: string;
}

export type InteractionEvent = { [T in InteractionType]: InteractionBase<T> & InteractionTypes[T] }[InteractionType];

export type InteractionOf<T extends InteractionType> = Extract<InteractionEvent, { type: T }>;

/** A client's watch progress report (`video:progress`, or an item of `POST /v1/events`). */
export interface ProgressReport {
  videoId: string;
  watchedMs: number;
  positionMs: number;
  durationMs: number;
  completed: boolean;
}

/** One item of the `POST /v1/events` body. `at` (ms) is when the client saw it; `userId`, when sent, must be the caller. */
export type ReportedEvent =
  | ({ type: 'watch'; at?: number; userId?: string } & ProgressReport)
  | { type: 'impression'; at?: number; userId?: string; videoId: string; feed: FeedKind; position: number };

/**
 * The `POST /v1/events` body. `token` is for `navigator.sendBeacon`, which cannot set an
 * Authorization header; `sessionId` names an anonymous viewer's session.
 */
export interface ReportedEventBatch {
  token?: string;
  sessionId?: string;
  events: ReportedEvent[];
}

/** A page of the behaviour log (Engine.interactions.read). */
export interface InteractionPage {
  events: InteractionEvent[];
  /** Opaque; pass it back to read on from here. */
  position: string;
}

/** Bounds of client-reported events: items per `POST /v1/events`. */
export const REPORTED_EVENTS_MAX = 50;
/** A video is at most this long as far as progress reports go (24 h). */
export const PROGRESS_MAX_MS = 24 * 3600 * 1000;
