/**
 * The memory driver's data: every table, in one object that each aggregate (users.ts,
 * videos.ts, feeds.ts, jobs.ts, uploads.ts) is given. An aggregate writes the tables it owns and
 * reads or updates another's only where the Redis driver touches that entity's keys too
 * (a new video joins its owner's outbox; a fan-out writes the followers' inboxes).
 */
import type { Comment, Counters, VideoEvent, VideoRecord } from '../../protocol/model.ts';
import type { JobRecord } from '../jobs.ts';
import type { InteractionLimits } from '../interactions.ts';
import { SortedIds } from '../sorted-ids.ts';
import type { UserRecord } from '../store.ts';
import { MemoryInteractionStream } from './interactions.ts';
import type { CommentThreadsRow } from './comments.ts';
import type { FavoritesTables } from './favorites.ts';

export interface UserRow {
  record: UserRecord;
  followers: SortedIds;
  following: SortedIds;
  /** The user's own videos (the outbox). */
  videos: SortedIds;
  inbox: SortedIds; // members `${videoId}:${authorId}`
}

export interface VideoRow {
  record: VideoRecord;
  counters: Counters;
  likers: Set<string>;
  viewers: Map<string, number>; // viewer id -> last counted view (ms), oldest first
  comments: Map<string, Comment>; // by comment id
  commentOrder: SortedIds;
  idempotency: Map<string, string>; // `${userId}:${key}` -> comment id
  log: VideoEvent[];
  head: number;
  /** Offset of the newest comment event (the `prev` of the next one). */
  lastComment: number;
  epoch: string;
  /** Threads, comment likes, the pin (comments.ts). */
  threads: CommentThreadsRow;
}

/** One subject's recommendation state (see RecommendationStore). */
export interface SubjectRow {
  /** Feature -> weight as set at `t` (decayed on read). */
  interests: Map<string, { w: number; t: number }>;
  /** Video id -> when it was last shown, oldest first. */
  seen: Map<string, number>;
  /** Recent engagements, newest first. */
  engaged: string[];
  /** Video id -> co-engagement score. */
  similar: Map<string, number>;
  /** Last signal or page (the state expires after stateTtlMs without one). */
  touchedAt: number;
}

export interface MemoryTables {
  /** By user id. */
  readonly users: Map<string, UserRow>;
  /** Lower-cased handle -> user id. */
  readonly handles: Map<string, string>;
  /** By video id. */
  readonly videos: Map<string, VideoRow>;
  /** Tag -> ids of the videos carrying it. */
  readonly tags: Map<string, SortedIds>;
  /** Video id -> hot score. */
  readonly hotScores: Map<string, number>;
  /** Recommendation state by subject, least recently active first. */
  readonly subjects: Map<string, SubjectRow>;
  /** Video id -> its recent engagers, newest first. */
  readonly engagers: Map<string, string[]>;
  /** The exploration pool: video id -> impressions. */
  readonly fresh: Map<string, number>;
  /** By job id. */
  readonly jobs: Map<string, JobRecord>;
  /** Owner id -> bytes reserved by their uploads, and per upload its bytes and the videos showing its media. */
  readonly quotas: Map<string, { used: number; uploads: Map<string, { bytes: number; videos: Set<string> }> }>;
  /** The behaviour log: every aggregate appends in the same synchronous write as its change. */
  readonly interactions: MemoryInteractionStream;
  /** Issues the ids of interaction events. */
  readonly eventId: () => string;
  /** User id -> whom the user blocks, and who blocks the user (social.ts; follows check both). */
  readonly blocks: Map<string, { blocks: SortedIds; blockedBy: SortedIds }>;
  /** Who keeps which video (favorites.ts). */
  readonly favorites: FavoritesTables;
}

export function memoryTables(interactions: InteractionLimits, eventId: () => string): MemoryTables {
  return {
    users: new Map(),
    handles: new Map(),
    videos: new Map(),
    tags: new Map(),
    hotScores: new Map(),
    subjects: new Map(),
    engagers: new Map(),
    fresh: new Map(),
    jobs: new Map(),
    quotas: new Map(),
    interactions: new MemoryInteractionStream(interactions),
    blocks: new Map(),
    favorites: { byVideo: new Map(), byUser: new Map() },
    eventId,
  };
}

export const copy = <T>(value: T): T => structuredClone(value);
