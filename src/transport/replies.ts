/**
 * Engine results as clients are told them, written once for REST and the socket: the
 * storage-side log head becomes the `offset` a client compares events against.
 */
import type { Counters } from '../protocol/model.ts';
import type { CommentLikeReply, LikeReply } from '../protocol/live.ts';

/** A like's or an unlike's result as acknowledged. */
export function likeReply(r: { changed: boolean; counters: Counters; log: { offset: number } }): LikeReply {
  return { changed: r.changed, counters: r.counters, offset: r.log.offset };
}

/** A comment like's or unlike's result as acknowledged. */
export function commentLikeReply(r: { changed: boolean; commentId: string; likes: number; log: { offset: number } }): CommentLikeReply {
  return { changed: r.changed, commentId: r.commentId, likes: r.likes, offset: r.log.offset };
}
