/**
 * The embedded driver: everything in this process's memory, nothing on disk. It is the
 * default for a single process and the reference the Redis driver is tested against:
 * each method runs synchronously to completion, which makes it atomic, and returns
 * copies so callers never share mutable state with the store.
 */
import { randomUUID } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';
import type { Comment, Counters, Page, PageRequest, TagInfo, UserProfile, VideoEvent, VideoRecord } from '../../protocol/model.ts';
import { decodeCursor, pageOf, requireOffset } from '../cursor.ts';
import type { JobPatch, JobRecord, JobStore } from '../jobs.ts';
import { FINAL_STAGES } from '../jobs.ts';
import { SortedIds } from '../sorted-ids.ts';
import type { ReleaseOutcome, Reservation, UploadStore } from '../uploads.ts';
import type {
  CommentOrder,
  EventRange,
  FeedEntry,
  FeedStore,
  Store,
  StoreLimits,
  UserOp,
  UserOpResult,
  UserRecord,
  UserStore,
  VideoBatchResult,
  VideoOp,
  VideoOpResult,
  VideoState,
  VideoStore,
} from '../store.ts';
import { inboxEntry, inboxMember } from '../store.ts';

const copy = <T>(value: T): T => structuredClone(value);

interface UserRow {
  record: UserRecord;
  followers: SortedIds;
  following: SortedIds;
  videos: SortedIds;
  inbox: SortedIds; // members `${videoId}:${authorId}`
}

interface VideoRow {
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
}

class MemoryUsers implements UserStore {
  readonly rows = new Map<string, UserRow>();
  private readonly handles = new Map<string, string>();

  async create(user: UserRecord): Promise<void> {
    const handle = user.handle.toLowerCase();
    if (this.handles.has(handle)) throw new TremoloError('E_HANDLE_TAKEN');
    this.handles.set(handle, user.id);
    this.rows.set(user.id, {
      record: copy(user),
      followers: new SortedIds(),
      following: new SortedIds(),
      videos: new SortedIds(),
      inbox: new SortedIds(),
    });
  }

  async get(id: string): Promise<UserRecord | null> {
    const row = this.rows.get(id);
    return row ? copy(row.record) : null;
  }

  async getByHandle(handle: string): Promise<UserRecord | null> {
    const id = this.handles.get(handle.toLowerCase());
    return id ? this.get(id) : null;
  }

  async profile(id: string): Promise<UserProfile | null> {
    const row = this.rows.get(id);
    if (!row) return null;
    const { passwordHash: _hidden, ...rest } = row.record;
    return {
      ...rest,
      followers: row.followers.size,
      following: row.following.size,
      videos: row.videos.size,
    };
  }

  async applyOps(userId: string, ops: UserOp[]): Promise<UserOpResult[]> {
    const me = this.rows.get(userId);
    if (!me) throw new TremoloError('E_USER_NOT_FOUND');
    return ops.map((op): UserOpResult => {
      if (op.targetId === userId) return { ok: false, code: 'E_SELF_FOLLOW' };
      const target = this.rows.get(op.targetId);
      if (!target) return { ok: false, code: 'E_USER_NOT_FOUND' };
      if (op.type === 'follow') {
        const changed = me.following.add(op.targetId);
        target.followers.add(userId);
        return { ok: true, changed };
      }
      const changed = me.following.delete(op.targetId);
      target.followers.delete(userId);
      return { ok: true, changed };
    });
  }

  async isFollowing(userId: string, targetId: string): Promise<boolean> {
    return this.rows.get(userId)?.following.has(targetId) ?? false;
  }

  async followerCount(userId: string): Promise<number> {
    return this.rows.get(userId)?.followers.size ?? 0;
  }

  async followers(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, 'followers', page);
  }

  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, 'following', page);
  }

  async allFollowing(userId: string): Promise<string[]> {
    return [...(this.rows.get(userId)?.following.all() ?? [])];
  }

  private list(userId: string, which: 'followers' | 'following', page: PageRequest): Page<string> {
    const row = this.rows.get(userId);
    if (!row) throw new TremoloError('E_USER_NOT_FOUND');
    const fetched = row[which].ascending(decodeCursor(page.cursor), page.limit + 1);
    return pageOf(fetched, page.limit, (id) => id);
  }
}

class MemoryVideos implements VideoStore {
  readonly rows = new Map<string, VideoRow>();
  private readonly tags = new Map<string, SortedIds>();

  constructor(
    private readonly users: MemoryUsers,
    private readonly limits: StoreLimits,
  ) {}

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
    };
    this.rows.set(video.id, row);
    this.users.rows.get(video.ownerId)?.videos.add(video.id);
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
    this.users.rows.get(row.record.ownerId)?.videos.delete(id);
    for (const tag of row.record.tagging?.tags ?? []) this.tags.get(tag)?.delete(id);
    return true;
  }

  async applyOps(videoId: string, ops: VideoOp[], opts: { now: number }): Promise<VideoBatchResult> {
    const row = this.rows.get(videoId);
    if (!row) throw new TremoloError('E_VIDEO_NOT_FOUND');
    const c = row.counters;
    const before = { likes: c.likes, comments: c.comments, views: c.views };
    const events: VideoEvent[] = [];
    const append = (event: VideoEvent) => {
      row.log.push(event);
      events.push(event);
    };
    const results = ops.map((op): VideoOpResult => {
      switch (op.type) {
        case 'like':
        case 'unlike': {
          const changed = op.type === 'like' ? !row.likers.has(op.userId) : row.likers.has(op.userId);
          if (changed) {
            if (op.type === 'like') row.likers.add(op.userId);
            else row.likers.delete(op.userId);
            c.likes = row.likers.size;
            c.version++;
          }
          return { ok: true, type: op.type, changed };
        }
        case 'view': {
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
          if (op.comment.replyTo !== undefined && !row.comments.has(op.comment.replyTo)) {
            return { ok: false, code: 'E_REPLY_TARGET' };
          }
          row.idempotency.set(idemKey, op.comment.id);
          row.comments.set(op.comment.id, copy(op.comment));
          row.commentOrder.add(op.comment.id);
          c.comments++;
          c.version++;
          appendComment(row, append, { type: 'comment:added', comment: copy(op.comment) });
          return { ok: true, type: 'comment', comment: copy(op.comment), duplicate: false };
        }
        case 'deleteComment': {
          const comment = row.comments.get(op.commentId);
          if (!comment) return { ok: false, code: 'E_COMMENT_NOT_FOUND' };
          if (comment.authorId !== op.userId && row.record.ownerId !== op.userId) return { ok: false, code: 'E_FORBIDDEN' };
          row.comments.delete(op.commentId);
          row.commentOrder.delete(op.commentId);
          c.comments--;
          c.version++;
          appendComment(row, append, { type: 'comment:deleted', commentId: op.commentId, version: c.version });
          return { ok: true, type: 'deleteComment', deleted: true };
        }
      }
    });
    if (c.likes !== before.likes || c.comments !== before.comments || c.views !== before.views) {
      head(row, append, { type: 'counters', counters: { ...c } });
    }
    if (row.log.length > this.limits.eventLogMax) row.log.splice(0, row.log.length - this.limits.eventLogMax);
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

class MemoryFeeds implements FeedStore {
  private readonly hotScores = new Map<string, number>();

  constructor(private readonly users: MemoryUsers) {}

  async pushToInboxes(userIds: string[], entry: FeedEntry, cap: number): Promise<void> {
    for (const id of userIds) {
      const inbox = this.users.rows.get(id)?.inbox;
      if (!inbox) continue;
      inbox.add(inboxMember(entry));
      inbox.trimTo(cap);
    }
  }

  async inbox(userId: string, before: string | undefined, limit: number): Promise<FeedEntry[]> {
    const inbox = this.users.rows.get(userId)?.inbox;
    return (inbox?.descending(before, limit) ?? []).map(inboxEntry);
  }

  async outbox(authorId: string, before: string | undefined, limit: number): Promise<string[]> {
    return this.users.rows.get(authorId)?.videos.descending(before, limit) ?? [];
  }

  async setHotScore(videoId: string, score: number | null): Promise<void> {
    if (score === null) this.hotScores.delete(videoId);
    else this.hotScores.set(videoId, score);
  }

  async hot(offset: number, limit: number): Promise<string[]> {
    requireOffset(offset);
    return [...this.hotScores]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
      .slice(offset, offset + limit)
      .map(([id]) => id);
  }
}

class MemoryJobs implements JobStore {
  private readonly rows = new Map<string, JobRecord>();

  async create(job: JobRecord): Promise<void> {
    this.rows.set(job.id, copy(job));
  }

  async get(id: string): Promise<JobRecord | null> {
    const job = this.rows.get(id);
    return job ? copy(job) : null;
  }

  async update(id: string, patch: JobPatch, opts: { now: number; owner?: string }): Promise<JobRecord | null> {
    const job = this.rows.get(id);
    if (!job) return null;
    if (opts.owner !== undefined && (job.leaseOwner !== opts.owner || FINAL_STAGES.has(job.stage))) return null;
    Object.assign(job, copy(patch), { updatedAt: new Date(opts.now).toISOString() });
    if (patch.stage && FINAL_STAGES.has(patch.stage)) {
      delete job.leaseOwner;
      delete job.leaseUntil;
    }
    return copy(job);
  }

  async claim(owner: string, opts: { now: number; leaseMs: number; maxAttempts: number }): Promise<JobRecord | null> {
    const candidates = [...this.rows.values()]
      .filter((j) => !FINAL_STAGES.has(j.stage) && (j.leaseUntil === undefined || j.leaseUntil <= opts.now))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const job of candidates) {
      const updatedAt = new Date(opts.now).toISOString();
      if (job.attempts >= opts.maxAttempts) {
        Object.assign(job, {
          stage: 'failed',
          updatedAt,
          error: { code: 'E_JOB_TIMEOUT', message: `gave up after ${job.attempts} attempts` },
        });
        delete job.leaseOwner;
        delete job.leaseUntil;
        continue;
      }
      Object.assign(job, { attempts: job.attempts + 1, leaseOwner: owner, leaseUntil: opts.now + opts.leaseMs, updatedAt });
      return copy(job);
    }
    return null;
  }

  async renew(id: string, owner: string, opts: { now: number; leaseMs: number }): Promise<boolean> {
    const job = this.rows.get(id);
    if (!job || job.leaseOwner !== owner || FINAL_STAGES.has(job.stage)) return false;
    job.leaseUntil = opts.now + opts.leaseMs;
    return true;
  }

  async release(id: string, owner: string): Promise<boolean> {
    const job = this.rows.get(id);
    if (!job || job.leaseOwner !== owner || FINAL_STAGES.has(job.stage)) return false;
    delete job.leaseOwner;
    delete job.leaseUntil;
    job.attempts = Math.max(0, job.attempts - 1);
    return true;
  }
}

interface UploadRow {
  bytes: number;
  videos: Set<string>;
}

class MemoryUploads implements UploadStore {
  private readonly owners = new Map<string, { used: number; uploads: Map<string, UploadRow> }>();

  async reserve(ownerId: string, uploadId: string, bytes: number, quotaBytes: number): Promise<Reservation> {
    let owner = this.owners.get(ownerId);
    const used = owner?.used ?? 0;
    if (owner?.uploads.has(uploadId)) return { ok: true, usedBytes: used };
    if (used + bytes > quotaBytes) return { ok: false, usedBytes: used };
    if (!owner) this.owners.set(ownerId, (owner = { used: 0, uploads: new Map() }));
    owner.uploads.set(uploadId, { bytes, videos: new Set() });
    owner.used += bytes;
    return { ok: true, usedBytes: owner.used };
  }

  async usedBytes(ownerId: string): Promise<number> {
    return this.owners.get(ownerId)?.used ?? 0;
  }

  async addVideo(ownerId: string, uploadId: string, videoId: string): Promise<boolean> {
    const row = this.owners.get(ownerId)?.uploads.get(uploadId);
    row?.videos.add(videoId);
    return row !== undefined;
  }

  async removeVideo(ownerId: string, uploadId: string, videoId: string): Promise<number> {
    const row = this.owners.get(ownerId)?.uploads.get(uploadId);
    row?.videos.delete(videoId);
    return row?.videos.size ?? 0;
  }

  async videos(ownerId: string, uploadId: string): Promise<string[]> {
    return [...(this.owners.get(ownerId)?.uploads.get(uploadId)?.videos ?? [])].sort();
  }

  async release(ownerId: string, uploadId: string): Promise<ReleaseOutcome> {
    const owner = this.owners.get(ownerId);
    const row = owner?.uploads.get(uploadId);
    if (!owner || !row) return 'absent';
    if (row.videos.size > 0) return 'held';
    owner.uploads.delete(uploadId);
    owner.used -= row.bytes;
    if (owner.uploads.size === 0) this.owners.delete(ownerId);
    return 'released';
  }
}

export class MemoryStore implements Store {
  readonly driver = 'memory' as const;
  readonly users: MemoryUsers;
  readonly videos: MemoryVideos;
  readonly feeds: MemoryFeeds;
  readonly jobs: MemoryJobs;
  readonly uploads: MemoryUploads;

  constructor(limits: StoreLimits) {
    this.users = new MemoryUsers();
    this.videos = new MemoryVideos(this.users, limits);
    this.feeds = new MemoryFeeds(this.users);
    this.jobs = new MemoryJobs();
    this.uploads = new MemoryUploads();
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
