/**
 * The messages of proto/tremolo/v1/tremolo.proto as TypeScript sees them through
 * proto-loader (LOADER_OPTIONS: camelCase, unset fields undefined), and the domain values
 * they are made from. Requests are typed as what may arrive: every field optional.
 */
import type { WatchResult } from '../../actors/engine.ts';
import type { Comment, Counters, UserProfile, Video, VideoEvent } from '../../protocol/model.ts';

export interface GetVideosRequest {
  ids?: string[];
  userId?: string;
}
export interface LikeRequest {
  videoId?: string;
  userId?: string;
}
export interface AddCommentRequest {
  videoId?: string;
  text?: string;
  replyTo?: string;
  idempotencyKey?: string;
  userId?: string;
}
export interface DeleteCommentRequest {
  commentId?: string;
  userId?: string;
}
export interface FollowRequest {
  targetId?: string;
  unfollow?: boolean;
  userId?: string;
}
export interface GetUserRequest {
  userId?: string;
}
export interface WatchVideoRequest {
  videoId?: string;
  sinceOffset?: number;
  epoch?: string;
}
export interface SubscribeInteractionsRequest {
  position?: string;
  batchSize?: number;
}

export interface CommentMessage {
  id: string;
  videoId: string;
  authorId: string;
  text: string;
  replyTo: string;
  createdAt: string;
}

export interface SnapshotMessage {
  counters: Counters;
  offset: number;
  epoch: string;
  latestComments: CommentMessage[];
  recovered?: boolean;
}

export type VideoEventMessage =
  | { offset: number; prev: number; counters: Counters }
  | { offset: number; prev: number; commentAdded: CommentMessage }
  | { offset: number; prev: number; commentDeleted: { commentId: string; version: number } }
  | { offset: number; prev: number; commentCounters: { commentId: string; likes: number } }
  | { offset: number; prev: number; commentPinned: { commentId: string } };

export type VideoUpdate = { videoId: string; snapshot: SnapshotMessage } | { videoId: string; event: VideoEventMessage };

export function commentMessage(c: Comment): CommentMessage {
  return { id: c.id, videoId: c.videoId, authorId: c.authorId, text: c.text, replyTo: c.replyTo ?? '', createdAt: c.createdAt };
}

export function videoMessage(v: Video) {
  return {
    id: v.id,
    ownerId: v.ownerId,
    title: v.title,
    description: v.description,
    createdAt: v.createdAt,
    media: { hls: v.media.hls ?? '', mp4: v.media.mp4 ?? '', poster: v.media.poster ?? '', external: v.media.external ?? '' },
    counters: v.counters,
    ...(v.likedByMe !== undefined ? { likedByMe: v.likedByMe } : {}),
    tags: v.tagging?.tags ?? [],
  };
}

export function userMessage(u: UserProfile, degraded: boolean) {
  return { ...u, degraded };
}

export function snapshotMessage(s: WatchResult['snapshot'], recovered?: boolean): SnapshotMessage {
  return {
    counters: s.counters,
    offset: s.offset,
    epoch: s.epoch,
    latestComments: s.latestComments.map(commentMessage),
    ...(recovered !== undefined ? { recovered } : {}),
  };
}

export function eventMessage(e: VideoEvent): VideoEventMessage {
  switch (e.type) {
    case 'counters':
      return { offset: e.offset, prev: 0, counters: e.counters };
    case 'comment:added':
      return { offset: e.offset, prev: e.prev, commentAdded: commentMessage(e.comment) };
    case 'comment:deleted':
      return { offset: e.offset, prev: e.prev, commentDeleted: { commentId: e.commentId, version: e.version } };
    case 'comment:counters':
      return { offset: e.offset, prev: 0, commentCounters: { commentId: e.commentId, likes: e.likes } };
    case 'comment:pinned':
      return { offset: e.offset, prev: 0, commentPinned: { commentId: e.commentId ?? '' } };
  }
}
