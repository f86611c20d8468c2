/**
 * Domain shapes that cross a process boundary: REST bodies, socket payloads,
 * storage results. Typed once here and shared by server, client SDK and tests.
 */
import type { Mention } from './social.ts';

export interface Counters {
  likes: number;
  comments: number;
  views: number;
  /** Grows by one with every change; clients and caches drop anything older. */
  version: number;
}

export interface MediaRefs {
  /** HLS master playlist, MP4 fallback and poster: signed URLs in responses, relative paths in storage. */
  hls?: string;
  mp4?: string;
  poster?: string;
  /** Media hosted elsewhere (`mediaUrl` at creation). */
  external?: string;
}

/** A point in pixels: x from the left, y from the top. */
export type PixelPoint = [number, number];

/** One line of on-screen text the tagger read. */
export interface OcrText {
  text: string;
  /** Mean per-character probability, 0..1. */
  confidence: number;
  /**
   * Where the line is: four corners (top-left, top-right, bottom-right, bottom-left of the text,
   * so rotated lines keep their angle) in pixels of the keyframe it was read on (`frame`).
   */
  box?: [PixelPoint, PixelPoint, PixelPoint, PixelPoint];
}

/** A stretch of speech in the audio track, in seconds from the start. */
export interface SpeechSpan {
  startS: number;
  endS: number;
}

/** What the media pipeline's tagger found in a video. */
export interface TagInfo {
  /** Normalised (see src/domain/tags.ts): lower case, no leading `#`. */
  tags: string[];
  /** Text lines read from the keyframes, de-duplicated across frames. */
  ocr?: OcrText[];
  /** Size of the keyframes the OCR boxes refer to (the size of the MP4 rendition and poster). */
  frame?: { width: number; height: number };
  /** Share of the audio that is speech, 0..1. */
  speechRatio?: number;
  speechSegments?: SpeechSpan[];
}

export interface VideoRecord {
  id: string;
  ownerId: string;
  title: string;
  description: string;
  createdAt: string;
  media: MediaRefs;
  tagging?: TagInfo;
  /** The `@handle`s in `description` that named users when it was written. */
  mentions?: Mention[];
}

export interface Video extends VideoRecord {
  counters: Counters;
  /** Present when the caller is signed in. */
  likedByMe?: boolean;
}

/** A For You item: the video and why it is shown (`following`, `interest:<tag>`, `interest:@<authorId>`, `similar`, `trending`, `fresh`). */
export type ForYouVideo = Video & { reason: string };

export interface Comment {
  /** `<videoId>-<tsid>`: routes a delete to its video without a lookup. */
  id: string;
  videoId: string;
  authorId: string;
  text: string;
  /**
   * The comment this one answers (any comment of the video): `replyToCommentId` under its
   * old name, so clients that knew only flat comments keep working.
   */
  replyTo?: string;
  createdAt: string;
  /** The `@handle`s in `text` that named users when it was written (protocol/social.ts). */
  mentions?: Mention[];
  /** A reply's thread: the top-level comment it hangs under (absent: a top-level comment). */
  threadId?: string;
  /** The author of the comment answered (`replyTo`), so a reply to a reply names whom it answers. */
  replyToUserId?: string;
}

/** A comment as thread listings show it: with its counts, and for a signed-in reader whether they like it. */
export interface CommentView extends Comment {
  /** Exact: the number of users who like the comment. */
  likes: number;
  /** Replies in its thread (top-level comments only; 0 for a reply). */
  replies: number;
  /** Present when the reader is signed in. */
  likedByMe?: boolean;
  /** True for the comment the video's owner pinned. */
  pinned?: boolean;
}

export interface UserProfile {
  id: string;
  handle: string;
  displayName: string;
  bio: string;
  createdAt: string;
  followers: number;
  following: number;
  videos: number;
}

/**
 * One entry of a video's event log; `offset` is its position in the video's total order.
 * Comment events also carry `prev`, the offset of the video's previous comment event (0 if
 * none): counter events are coalesced in delivery, so offsets seen by a client skip, but the
 * comment chain never does. A client whose last comment offset is below `prev` missed one.
 */
export type VideoEvent =
  | { offset: number; type: 'counters'; counters: Counters }
  | { offset: number; prev: number; type: 'comment:added'; comment: Comment }
  | { offset: number; prev: number; type: 'comment:deleted'; commentId: string; version: number }
  /** A comment's like count after a turn that changed it (one per comment per turn; coalesced in delivery). */
  | { offset: number; type: 'comment:counters'; commentId: string; likes: number }
  /** The video's pinned comment changed (`commentId` null: unpinned). */
  | { offset: number; type: 'comment:pinned'; commentId: string | null };

export interface Page<T> {
  items: T[];
  /** Opaque; absent on the last page. */
  nextCursor?: string;
}

export interface PageRequest {
  cursor?: string;
  limit: number;
}

/** Pushed to a user's own room. */
export type Notification =
  | { type: 'video:liked'; videoId: string; likerIds: string[]; likes: number }
  | { type: 'video:commented'; videoId: string; commentId: string; authorId: string; text: string }
  | { type: 'user:followed'; followerId: string; followers?: number }
  // social depth: mentions and moderation outcomes (protocol/social.ts)
  | { type: 'user:mentioned'; videoId: string; commentId?: string; authorId: string; text: string }
  | { type: 'content:hidden'; videoId: string; commentId?: string; reason: string }
  | { type: 'content:restored'; videoId: string; commentId?: string }
  /** Someone liked your comment (one notification per comment per turn, however many likes). */
  | { type: 'comment:liked'; videoId: string; commentId: string; likerIds: string[]; likes: number }
  /** Someone saved your video to their favorites. */
  | { type: 'video:favorited'; videoId: string; userId: string; favorites: number };

/** `GET /v1/videos/:id/analytics` query: times as ISO 8601 or ms since the epoch; [from, to). */
export interface AnalyticsQuery {
  from?: string;
  to?: string;
  bucket?: 'hour' | 'day';
}

/** One bucket (or the totals) of a video's analytics. */
export interface AnalyticsFigures {
  views: number;
  uniqueViewers: number;
  /** Per viewer who reported progress: the most watched in this bucket, averaged. */
  avgWatchMs: number;
  /** Of the viewers who reported progress, the share who completed the video. */
  completionRate: number;
  likes: number;
  /** likes / views (0 without views). */
  likeRate: number;
  comments: number;
  /** Follows minus unfollows of the video's owner. */
  followersGained: number;
}

/**
 * A video's analytics for its owner. `source: "clickhouse"`: per bucket from the behaviour
 * log. `source: "counters"` (no behaviour log configured): lifetime `totals` of what storage
 * counts (views, likes, comments), no buckets.
 */
export type VideoAnalytics =
  | { videoId: string; source: 'clickhouse'; bucket: 'hour' | 'day'; from: string; to: string; totals: AnalyticsFigures; buckets: (AnalyticsFigures & { start: string })[] }
  | { videoId: string; source: 'counters'; bucket: 'hour' | 'day'; from: string; to: string; totals: { views: number; likes: number; comments: number }; buckets: (AnalyticsFigures & { start: string })[] };
