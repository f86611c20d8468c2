/**
 * Videos in memory: each video's row (counters, likers, viewers, comments, its event log)
 * and the tag indexes. Every method runs to completion synchronously, so a batch of ops
 * is atomic, as one video-apply script is on Redis.
 */
import { randomUUID } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';
import type { Comment, Page, PageRequest, TagInfo, VideoEvent, VideoRecord } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { videoOpEvent } from '../interaction-events.ts';
import type { InteractionEvent } from '../../protocol/interactions.ts';
import { SortedIds } from '../sorted-ids.ts';
import type { CommentOrder, EventRange, StoreLimits, VideoBatchResult, VideoOp, VideoOpResult, VideoState, VideoStore } from '../store.ts';
import { COMMENT_TOP_DEFAULTS } from '../store.ts';
import { applyCommentOp, commentThreadsRow, indexComment, threadFields, unindexComment } from './comments.ts';
import { copy, type MemoryTables, type VideoRow } from './tables.ts';

/** The VideoStore of the memory driver. */
export class MemoryVideos implements VideoStore {
  private readonly rows: Map<string, VideoRow>;
  private readonly tags: Map<string, SortedIds>;

  constructor(
    private readonly tables: MemoryTables,
    private readonly limits: StoreLimits,
  ) {
    this.rows = tables.videos;
    this.tags = tables.tags;
  }

  async create(video: VideoRecord): Promise<VideoState> {
    const row: VideoRow = {
      record: copy(video),
      counters: { likes: 0, comments: 0, views: 0, version: 0 },
      likers: new Set(),
      viewers: new Map(),
      comments: new Map(),
      commentOrder: new SortedIds(),
      idempotency: new Map(),
      log: [],
      head: 0,
      lastComment: 0,
      epoch: randomUUID(),
      threads: commentThreadsRow(),
    };
    this.rows.set(video.id, row);
    this.tables.users.get(video.ownerId)?.videos.add(video.id);
    this.indexTags(video.id, video.tagging);
    return this.state(row);
  }

  async get(id: string): Promise<VideoState | null> {
    const row = this.rows.get(id);
    return row ? this.state(row) : null;
  }

  async getMany(ids: string[]): Promise<(VideoState | null)[]> {
    return ids.map((id) => {
      const row = this.rows.get(id);
      return row ? this.state(row) : null;
    });
  }

  async delete(id: string): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row) return false;
    this.rows.delete(id);
    this.tables.favorites.byVideo.delete(id);
    this.tables.users.get(row.record.ownerId)?.videos.delete(id);
    for (const tag of row.record.tagging?.tags ?? []) this.tags.get(tag)?.delete(id);
    return true;
  }

  async applyOps(videoId: string, ops: VideoOp[], opts: { now: number }): Promise<VideoBatchResult> {
    const row = this.rows.get(videoId);
    if (!row) throw new TremoloError('E_VIDEO_NOT_FOUND');
    // each op records at most one interaction: refuse the whole batch before changing anything
    this.tables.interactions.reserve(ops.length);
    // the turn's interaction events go in together at the end, as one write (as on Redis)
    const recorded: InteractionEvent[] = [];
    const record = (op: VideoOp) => {
      const event = videoOpEvent(videoId, op, this.tables.eventId(), opts.now);
      if (event) recorded.push(event);
    };
    const c = row.counters;
    const before = { likes: c.likes, comments: c.comments, views: c.views };
    const events: VideoEvent[] = [];
    const append = (event: VideoEvent) => {
      row.log.push(event);
      events.push(event);
    };
    const halfLifeS = this.limits.commentTopHalfLifeS ?? COMMENT_TOP_DEFAULTS.commentTopHalfLifeS;
    /** Comments whose like count changed in this turn -> the count now (one event each, at the end). */
    const liked = new Map<string, number>();
    const results = ops.map((op): VideoOpResult => {
      switch (op.type) {
        case 'likeComment':
        case 'unlikeComment':
        case 'pinComment': {
          const r = applyCommentOp(row, op, halfLifeS);
          if (r.ok && (r.type === 'likeComment' || r.type === 'unlikeComment') && r.changed && op.type !== 'pinComment') {
            liked.set(op.commentId, r.likes);
            record(op);
          }
          if (r.ok && r.type === 'pinComment' && r.changed) head(row, append, { type: 'comment:pinned', commentId: r.pinned });
          return r;
        }
        case 'like':
        case 'unlike': {
          const changed = op.type === 'like' ? !row.likers.has(op.userId) : row.likers.has(op.userId);
          if (changed) {
            if (op.type === 'like') row.likers.add(op.userId);
            else row.likers.delete(op.userId);
            c.likes = row.likers.size;
            c.version++;
            record(op);
          }
          return { ok: true, type: op.type, changed };
        }
        case 'view': {
          // a view is an interaction even when the dedup window does not count it again
          record(op);
          if (op.viewerId !== undefined) {
            const window = this.limits.viewDedupS * 1000;
            const last = row.viewers.get(op.viewerId);
            if (last !== undefined && opts.now - last < window) {
              return { ok: true, type: 'view', counted: false };
            }
            // re-inserted, so the map stays in time order and views older than the window
            // (which dedup nothing) are trimmed from its front, as the Redis driver trims its zset
            row.viewers.delete(op.viewerId);
            row.viewers.set(op.viewerId, opts.now);
            for (const [viewer, at] of row.viewers) {
              if (opts.now - at < window) break;
              row.viewers.delete(viewer);
            }
          }
          c.views++;
          c.version++;
          return { ok: true, type: 'view', counted: true };
        }
        case 'comment': {
          const idemKey = `${op.comment.authorId}:${op.idempotencyKey}`;
          const existingId = row.idempotency.get(idemKey);
          const existing = existingId === undefined ? undefined : row.comments.get(existingId);
          if (existingId !== undefined) {
            // a retry: answer with the original, even if it was deleted since
            return { ok: true, type: 'comment', comment: copy(existing ?? op.comment), duplicate: true };
          }
          let comment: Comment = op.comment;
          if (op.comment.replyTo !== undefined) {
            const thread = threadFields(row, op.comment.replyTo);
            if (!thread) return { ok: false, code: 'E_REPLY_TARGET' };
            comment = { ...op.comment, ...thread };
          }
          row.idempotency.set(idemKey, comment.id);
          row.comments.set(comment.id, copy(comment));
          row.commentOrder.add(comment.id);
          indexComment(row, comment, halfLifeS);
          c.comments++;
          c.version++;
          appendComment(row, append, { type: 'comment:added', comment: copy(comment) });
          record(op);
          return { ok: true, type: 'comment', comment: copy(comment), duplicate: false };
        }
        case 'deleteComment': {
          const comment = row.comments.get(op.commentId);
          if (!comment) return { ok: false, code: 'E_COMMENT_NOT_FOUND' };
          if (comment.authorId !== op.userId && row.record.ownerId !== op.userId) return { ok: false, code: 'E_FORBIDDEN' };
          row.comments.delete(op.commentId);
          row.commentOrder.delete(op.commentId);
          liked.delete(op.commentId);
          if (row.threads.pinned === op.commentId) head(row, append, { type: 'comment:pinned', commentId: null });
          unindexComment(row, op.commentId);
          c.comments--;
          c.version++;
          appendComment(row, append, { type: 'comment:deleted', commentId: op.commentId, version: c.version });
          record(op);
          return { ok: true, type: 'deleteComment', deleted: true };
        }
      }
    });
    for (const [commentId, likes] of liked) head(row, append, { type: 'comment:counters', commentId, likes });
    if (c.likes !== before.likes || c.comments !== before.comments || c.views !== before.views) {
      head(row, append, { type: 'counters', counters: { ...c } });
    }
    if (row.log.length > this.limits.eventLogMax) row.log.splice(0, row.log.length - this.limits.eventLogMax);
    this.tables.interactions.appendWrite(recorded);
    return { results, counters: { ...c }, log: { offset: row.head, epoch: row.epoch }, events: copy(events) };
  }

  async likedBy(videoId: string, userIds: string[]): Promise<boolean[]> {
    const row = this.rows.get(videoId);
    return userIds.map((u) => row?.likers.has(u) ?? false);
  }

  async likedByUser(userId: string, videoIds: readonly string[]): Promise<boolean[]> {
    return videoIds.map((id) => this.rows.get(id)?.likers.has(userId) ?? false);
  }

  async comments(videoId: string, order: CommentOrder, page: PageRequest): Promise<Page<Comment>> {
    const row = this.rows.get(videoId);
    if (!row) throw new TremoloError('E_VIDEO_NOT_FOUND');
    const cursor = decodeCursor(page.cursor);
    const ids =
      order === 'newest' ? row.commentOrder.descending(cursor, page.limit + 1) : row.commentOrder.ascending(cursor, page.limit + 1);
    return pageOf(
      ids.map((id) => copy(row.comments.get(id)!)),
      page.limit,
      (comment) => comment.id,
    );
  }

  async events(videoId: string, sinceOffset: number, limit: number): Promise<EventRange> {
    const row = this.rows.get(videoId);
    if (!row) throw new TremoloError('E_VIDEO_NOT_FOUND');
    const first = row.log[0]?.offset ?? row.head + 1;
    const complete = sinceOffset >= first - 1 && sinceOffset <= row.head;
    const events = complete ? row.log.filter((e) => e.offset > sinceOffset).slice(0, limit) : [];
    return { epoch: row.epoch, events: copy(events), complete, head: row.head };
  }

  async setTagging(videoId: string, tagging: TagInfo): Promise<void> {
    const row = this.rows.get(videoId);
    if (!row) throw new TremoloError('E_VIDEO_NOT_FOUND');
    for (const tag of row.record.tagging?.tags ?? []) this.tags.get(tag)?.delete(videoId);
    row.record.tagging = copy(tagging);
    this.indexTags(videoId, tagging);
  }

  async byTag(tag: string, page: PageRequest): Promise<Page<string>> {
    const before = decodeCursor(page.cursor); // a bad cursor is refused even for an unknown tag
    const ids = this.tags.get(tag)?.descending(before, page.limit + 1) ?? [];
    return pageOf(ids, page.limit, (id) => id);
  }

  private indexTags(videoId: string, tagging: TagInfo | undefined): void {
    for (const tag of tagging?.tags ?? []) {
      let set = this.tags.get(tag);
      if (!set) this.tags.set(tag, (set = new SortedIds()));
      set.add(videoId);
    }
  }

  private state(row: VideoRow): VideoState {
    return { video: copy(row.record), counters: { ...row.counters }, log: { offset: row.head, epoch: row.epoch } };
  }
}

/** Appends an event at the next offset of the video's log. */
function head(row: VideoRow, append: (e: VideoEvent) => void, event: DistributiveOmit<VideoEvent, 'offset'>): void {
  row.head++;
  append({ ...event, offset: row.head } as VideoEvent);
}

/** Appends a comment event, chaining it to the previous one. */
function appendComment(
  row: VideoRow,
  append: (e: VideoEvent) => void,
  event: DistributiveOmit<Extract<VideoEvent, { prev: number }>, 'offset' | 'prev'>,
): void {
  row.head++;
  append({ ...event, offset: row.head, prev: row.lastComment } as VideoEvent);
  row.lastComment = row.head;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
