/**
 * Comment threads, comment likes and the pinned comment in memory: the part of a video's row
 * that video-apply-14.lua keeps in the thread index, comment-likes, comment-top and meta keys
 * on Redis. `applyCommentOp` runs inside MemoryVideos.applyOps, so a turn stays atomic.
 */
import { randomUUID } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';
import type { Comment, CommentView, Page } from '../../protocol/model.ts';
import { decodeCursor, encodeCursor, pageOf } from '../cursor.ts';
import { SortedIds } from '../sorted-ids.ts';
import {
  COMMENT_TOP_DEFAULTS,
  type CommentOp,
  type CommentThreadStore,
  type StoreLimits,
  type ThreadOrder,
  type ThreadPageRequest,
  type VideoOpResult,
} from '../store.ts';
import { copy, type MemoryTables, type VideoRow } from './tables.ts';

/** How many live `top` rankings one video keeps (the oldest goes first). */
const SNAPSHOTS_PER_VIDEO = 64;

export interface CommentThreadsRow {
  /** Top-level comment ids (a comment stored before threads existed counts as top-level). */
  topLevel: SortedIds;
  /** Thread id -> its replies' ids. */
  replies: Map<string, SortedIds>;
  /** Reply id -> its thread id. */
  threadOf: Map<string, string>;
  /** Comment id -> ids of users who like it. */
  likers: Map<string, Set<string>>;
  /** Top-level comment id -> `top` score. */
  topScore: Map<string, number>;
  pinned: string | null;
  /** Frozen `top` rankings by token, for stable paging. */
  snapshots: Map<string, { ids: string[]; expiresAt: number }>;
}

export function commentThreadsRow(): CommentThreadsRow {
  return { topLevel: new SortedIds(), replies: new Map(), threadOf: new Map(), likers: new Map(), topScore: new Map(), pinned: null, snapshots: new Map() };
}

/**
 * The `top` score: log2(1 + likes) + createdAtSeconds / halfLife. Written with Math.log as
 * video-apply-14.lua writes it with math.log, so both drivers compute the same doubles.
 */
export function topScore(likes: number, createdMs: number, halfLifeS: number): number {
  return Math.log(1 + likes) / Math.log(2) + createdMs / 1000 / halfLifeS;
}

/** Indexes a new comment: a top-level one, or a reply filed under its thread (filled in on `comment`). */
export function indexComment(row: VideoRow, comment: Comment, halfLifeS: number): void {
  const t = row.threads;
  if (comment.threadId === undefined) {
    t.topLevel.add(comment.id);
    t.topScore.set(comment.id, topScore(0, Date.parse(comment.createdAt), halfLifeS));
    return;
  }
  let replies = t.replies.get(comment.threadId);
  if (!replies) t.replies.set(comment.threadId, (replies = new SortedIds()));
  replies.add(comment.id);
  t.threadOf.set(comment.id, comment.threadId);
}

/** A reply's thread fields, from the comment it answers. */
export function threadFields(row: VideoRow, replyTo: string): { threadId: string; replyToUserId: string } | undefined {
  const target = row.comments.get(replyTo);
  if (!target) return undefined;
  return { threadId: row.threads.threadOf.get(replyTo) ?? replyTo, replyToUserId: target.authorId };
}

/** Forgets a deleted comment's likes, its place in its thread or the ranking, and the pin. */
export function unindexComment(row: VideoRow, commentId: string): void {
  const t = row.threads;
  t.likers.delete(commentId);
  t.topLevel.delete(commentId);
  t.topScore.delete(commentId);
  const threadId = t.threadOf.get(commentId);
  if (threadId !== undefined) {
    t.threadOf.delete(commentId);
    t.replies.get(threadId)?.delete(commentId);
  }
  if (t.pinned === commentId) t.pinned = null;
}

/** Applies one comment op to the row (inside applyOps); `pinned` says whether the pin changed. */
export function applyCommentOp(row: VideoRow, op: CommentOp, halfLifeS: number): VideoOpResult {
  const t = row.threads;
  if (op.type === 'pinComment') {
    if (op.userId !== row.record.ownerId) return { ok: false, code: 'E_FORBIDDEN' };
    if (op.commentId !== null) {
      if (!row.comments.has(op.commentId)) return { ok: false, code: 'E_COMMENT_NOT_FOUND' };
      if (t.threadOf.has(op.commentId)) return { ok: false, code: 'E_PIN_TARGET' };
    }
    const changed = t.pinned !== op.commentId;
    t.pinned = op.commentId;
    return { ok: true, type: 'pinComment', changed, pinned: t.pinned };
  }
  const comment = row.comments.get(op.commentId);
  if (!comment) return { ok: false, code: 'E_COMMENT_NOT_FOUND' };
  let likers = t.likers.get(op.commentId);
  if (!likers) t.likers.set(op.commentId, (likers = new Set()));
  const changed = op.type === 'likeComment' ? !likers.has(op.userId) : likers.has(op.userId);
  if (changed) {
    if (op.type === 'likeComment') likers.add(op.userId);
    else likers.delete(op.userId);
    if (t.topScore.has(op.commentId)) t.topScore.set(op.commentId, topScore(likers.size, Date.parse(comment.createdAt), halfLifeS));
  }
  if (likers.size === 0) t.likers.delete(op.commentId);
  return { ok: true, type: op.type, changed, likes: likers.size, authorId: comment.authorId };
}

export function commentLikes(row: VideoRow, commentId: string): number {
  return row.threads.likers.get(commentId)?.size ?? 0;
}

/** The CommentThreadStore of the memory driver. */
export class MemoryCommentThreads implements CommentThreadStore {
  private readonly snapshotMs: number;
  private readonly topMax: number;

  constructor(
    private readonly tables: MemoryTables,
    limits: StoreLimits,
  ) {
    this.snapshotMs = (limits.commentTopSnapshotS ?? COMMENT_TOP_DEFAULTS.commentTopSnapshotS) * 1000;
    this.topMax = limits.commentTopMax ?? COMMENT_TOP_DEFAULTS.commentTopMax;
  }

  async threads(videoId: string, order: ThreadOrder, page: ThreadPageRequest, opts: { now: number }): Promise<Page<CommentView>> {
    const row = this.row(videoId);
    const t = row.threads;
    const pinned = t.pinned;
    const first = page.cursor === undefined || page.cursor === '';
    const lead = first && pinned !== null ? [{ ...this.view(row, pinned, page.viewerId), pinned: true }] : [];
    if (order === 'newest') {
      const ids = t.topLevel.descending(decodeCursor(page.cursor), page.limit + 2).filter((id) => id !== pinned).slice(0, page.limit + 1);
      const rest = pageOf(ids, page.limit, (id) => id);
      return { ...rest, items: [...lead, ...rest.items.map((id) => this.view(row, id, page.viewerId))] };
    }
    let token: string;
    let offset: number;
    if (first) {
      // freeze the ranking: later pages read this list, whatever happens to likes meanwhile
      for (const [k, s] of t.snapshots) if (s.expiresAt <= opts.now) t.snapshots.delete(k);
      while (t.snapshots.size >= SNAPSHOTS_PER_VIDEO) t.snapshots.delete(t.snapshots.keys().next().value!);
      const ranked = [...t.topScore]
        .filter(([id]) => id !== pinned)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
        .slice(0, this.topMax)
        .map(([id]) => id);
      token = randomUUID();
      offset = 0;
      t.snapshots.set(token, { ids: ranked, expiresAt: opts.now + this.snapshotMs });
    } else {
      ({ token, offset } = decodeTopCursor(page.cursor));
    }
    const snapshot = t.snapshots.get(token);
    if (!snapshot || snapshot.expiresAt <= opts.now) throw new TremoloError('E_BAD_CURSOR', 'This ranking has expired: start again from the first page');
    const slice = snapshot.ids.slice(offset, offset + page.limit);
    const next = offset + page.limit < snapshot.ids.length ? encodeTopCursor(token, offset + page.limit) : undefined;
    // comments deleted since the ranking was frozen are left out (the page is then short)
    const items = slice.filter((id) => row.comments.has(id)).map((id) => this.view(row, id, page.viewerId));
    return { items: [...lead, ...items], ...(next !== undefined ? { nextCursor: next } : {}) };
  }

  async replies(videoId: string, threadId: string, page: ThreadPageRequest): Promise<Page<CommentView>> {
    const row = this.row(videoId);
    const after = decodeCursor(page.cursor);
    if (!row.comments.has(threadId) || row.threads.threadOf.has(threadId)) throw new TremoloError('E_COMMENT_NOT_FOUND');
    const ids = row.threads.replies.get(threadId)?.ascending(after, page.limit + 1) ?? [];
    const rest = pageOf(ids, page.limit, (id) => id);
    return { ...rest, items: rest.items.map((id) => this.view(row, id, page.viewerId)) };
  }

  async pinned(videoId: string): Promise<string | null> {
    return this.row(videoId).threads.pinned;
  }

  private row(videoId: string): VideoRow {
    const row = this.tables.videos.get(videoId);
    if (!row) throw new TremoloError('E_VIDEO_NOT_FOUND');
    return row;
  }

  private view(row: VideoRow, id: string, viewerId: string | undefined): CommentView {
    const t = row.threads;
    return {
      ...copy(row.comments.get(id)!),
      likes: commentLikes(row, id),
      replies: t.replies.get(id)?.size ?? 0,
      ...(viewerId !== undefined ? { likedByMe: t.likers.get(id)?.has(viewerId) ?? false } : {}),
    };
  }
}

/** A `top` cursor: the frozen ranking's token and the position in it. */
export function encodeTopCursor(token: string, offset: number): string {
  return encodeCursor(`${token}@${offset}`);
}

export function decodeTopCursor(cursor: string | undefined): { token: string; offset: number } {
  const match = /^([0-9a-f-]{36})@(\d{1,9})$/.exec(decodeCursor(cursor) ?? '');
  if (!match) throw new TremoloError('E_BAD_CURSOR');
  return { token: match[1]!, offset: Number(match[2]) };
}
