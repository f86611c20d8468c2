/**
 * Domain shapes that cross a process boundary: REST bodies, socket payloads,
 * storage results. Typed once here and shared by server, client SDK and tests.
 */

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

export interface TagInfo {
  tags: string[];
  ocr?: { text: string; confidence: number }[];
  speechRatio?: number;
}

export interface VideoRecord {
  id: string;
  ownerId: string;
  title: string;
  description: string;
  createdAt: string;
  media: MediaRefs;
  tagging?: TagInfo;
}

export interface Video extends VideoRecord {
  counters: Counters;
  /** Present when the caller is signed in. */
  likedByMe?: boolean;
}

export interface Comment {
  /** `<videoId>-<tsid>`: routes a delete to its video without a lookup. */
  id: string;
  videoId: string;
  authorId: string;
  text: string;
  replyTo?: string;
  createdAt: string;
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
  | { offset: number; prev: number; type: 'comment:deleted'; commentId: string; version: number };

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
  | { type: 'user:followed'; followerId: string; followers?: number };
