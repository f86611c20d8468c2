/**
 * The Redis driver (ioredis + Lua), for many processes and Redis Cluster. It behaves
 * exactly like the memory driver (one contract suite runs against both); what is only
 * true here is documented where it happens:
 *
 * - Every write to one entity is one Lua script over that entity's keys, which share a
 *   Cluster hash tag (see keys.ts), so it is atomic and touches one slot.
 * - Writes that span entities (a follow, a video's outbox and tag indexes, a handle) are
 *   idempotent steps in a fixed order, so a retry after a failure in between converges.
 * - Every client failure surfaces as TremoloError: E_STORAGE_UNAVAILABLE when Redis is
 *   unreachable or slow (scripts.ts `storageError`), never an ioredis type.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { TremoloError } from '../../protocol/errors.ts';
import type { Comment, Counters, Page, PageRequest, TagInfo, UserProfile, VideoEvent, VideoRecord } from '../../protocol/model.ts';
import { decodeCursor, pageOf, requireOffset } from '../cursor.ts';
import type { JobPatch, JobRecord, JobStage, JobStore } from '../jobs.ts';
import { FINAL_STAGES } from '../jobs.ts';
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
import type { ReleaseOutcome, Reservation, UploadStore } from '../uploads.ts';
import { RedisKeys } from './keys.ts';
import { failureCode, io, isScriptFailure, scriptFailure, Scripts, storageError, type RedisClient } from './scripts.ts';

export interface RedisStoreOptions {
  /** A connected ioredis client; the caller owns it (close() leaves it open). */
  redis: Redis | Cluster;
  /** Prepended to every key, e.g. `tremolo:`. Must not contain braces. */
  prefix: string;
  limits: StoreLimits;
}

export interface RedisConnectOptions {
  /** `redis://[:password@]host:port[/db]`; default redis://127.0.0.1:6379. Ignored with clusterNodes. */
  url?: string;
  /** Seed nodes of a Redis Cluster, `host:port` each; when given, a Cluster client is made. */
  clusterNodes?: string[];
  prefix: string;
  limits: StoreLimits;
  /** Bound on connecting and on every command; past it a call fails with E_STORAGE_UNAVAILABLE. */
  timeoutMs: number;
  /** Client errors (connection lost, reconnecting); calls fail on their own, so the default ignores them. */
  onError?: (err: Error) => void;
}

interface Context {
  client: RedisClient;
  keys: RedisKeys;
  scripts: Scripts;
  limits: StoreLimits;
}

const copy = <T>(value: T): T => structuredClone(value);

/** A lex-range bound strictly after/before `id`, or the open end. */
const exclusive = (id: string | undefined, open: '-' | '+'): string => (id === undefined ? open : `(${id}`);

/** cjson encodes an empty Lua table as `{}`; arrays from scripts may therefore be objects. */
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

// ---------------------------------------------------------------- users

const USER_FIELDS = ['id', 'handle', 'displayName', 'bio', 'createdAt', 'passwordHash'] as const;

function encodeUser(user: UserRecord): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const f of USER_FIELDS) fields[f] = user[f];
  return fields;
}

function decodeUser(hash: Record<string, string>): UserRecord | null {
  if (hash.id === undefined) return null;
  const user = {} as UserRecord;
  for (const f of USER_FIELDS) user[f] = hash[f] ?? '';
  return user;
}

class RedisUsers implements UserStore {
  constructor(private readonly ctx: Context) {}

  async create(user: UserRecord): Promise<void> {
    const { client, keys } = this.ctx;
    const handleKey = keys.handle(user.handle.toLowerCase());
    const userKey = keys.user(user.id);
    // The handle index and the user are in different slots: claim the handle (SET NX),
    // then write the user. A retry after a failure in between finds the handle held by
    // this very id with no user written yet, and finishes the job.
    const claimed = await io(() => client.set(handleKey, user.id, 'NX'));
    if (claimed === null) {
      const [holder, written] = await Promise.all([io(() => client.get(handleKey)), io(() => client.exists(userKey))]);
      if (holder !== user.id || written === 1) throw new TremoloError('E_HANDLE_TAKEN');
    }
    await io(() => client.hset(userKey, encodeUser(user)));
  }

  async get(id: string): Promise<UserRecord | null> {
    const { client, keys } = this.ctx;
    return decodeUser(await io(() => client.hgetall(keys.user(id))));
  }

  async getByHandle(handle: string): Promise<UserRecord | null> {
    const { client, keys } = this.ctx;
    const id = await io(() => client.get(keys.handle(handle.toLowerCase())));
    return id === null ? null : this.get(id);
  }

  async profile(id: string): Promise<UserProfile | null> {
    const { client, keys } = this.ctx;
    const [hash, followers, following, videos] = await Promise.all([
      io(() => client.hgetall(keys.user(id))),
      io(() => client.zcard(keys.followers(id))),
      io(() => client.zcard(keys.following(id))),
      io(() => client.zcard(keys.userVideos(id))),
    ]);
    const user = decodeUser(hash);
    if (!user) return null;
    const { passwordHash: _hidden, ...rest } = user;
    return { ...rest, followers, following, videos };
  }

  /**
   * A follow touches two users, i.e. two Cluster slots, so it cannot be one script. It is
   * two idempotent steps: the follower's `following` set (the source of truth for
   * `changed`, one script for the whole batch), then each followee's `followers` set set
   * to the batch's last intent. A failure in between fails the call; the caller's retry
   * finds step one already done (`changed: false`) and redoes step two, so both sides
   * converge. Counts are ZCARD, so always exact for each side.
   */
  async applyOps(userId: string, ops: UserOp[]): Promise<UserOpResult[]> {
    const { client, keys, scripts } = this.ctx;
    const targets = [...new Set(ops.map((op) => op.targetId).filter((t) => t !== userId))];
    const found = await Promise.all(targets.map((t) => io(() => client.exists(keys.user(t)))));
    const known = new Set(targets.filter((_, i) => found[i] === 1));

    const args: string[] = [];
    const intent = new Map<string, UserOp['type']>();
    for (const op of ops) {
      if (op.targetId === userId || !known.has(op.targetId)) continue;
      args.push(op.type === 'follow' ? 'f' : 'u', op.targetId);
      intent.set(op.targetId, op.type);
    }
    const reply = await scripts.run('user-follow', [keys.user(userId), keys.following(userId)], args);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const changed = asArray(reply);

    await Promise.all(
      [...intent].map(([target, type]) =>
        io(() => (type === 'follow' ? client.zadd(keys.followers(target), 0, userId) : client.zrem(keys.followers(target), userId))),
      ),
    );

    let next = 0;
    return ops.map((op): UserOpResult => {
      if (op.targetId === userId) return { ok: false, code: 'E_SELF_FOLLOW' };
      if (!known.has(op.targetId)) return { ok: false, code: 'E_USER_NOT_FOUND' };
      return { ok: true, changed: changed[next++] === 1 };
    });
  }

  async isFollowing(userId: string, targetId: string): Promise<boolean> {
    const { client, keys } = this.ctx;
    return (await io(() => client.zscore(keys.following(userId), targetId))) !== null;
  }

  async followerCount(userId: string): Promise<number> {
    const { client, keys } = this.ctx;
    return io(() => client.zcard(keys.followers(userId)));
  }

  async followers(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, this.ctx.keys.followers(userId), page);
  }

  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, this.ctx.keys.following(userId), page);
  }

  async allFollowing(userId: string): Promise<string[]> {
    const { client, keys } = this.ctx;
    return io(() => client.zrange(keys.following(userId), '0', '-1'));
  }

  private async list(userId: string, setKey: string, page: PageRequest): Promise<Page<string>> {
    const { client, keys, scripts } = this.ctx;
    let after: string | undefined;
    try {
      after = decodeCursor(page.cursor);
    } catch (err) {
      // same precedence as the memory driver: an unknown user first
      if ((await io(() => client.exists(keys.user(userId)))) === 0) throw new TremoloError('E_USER_NOT_FOUND');
      throw err;
    }
    const reply = await scripts.run('user-list', [keys.user(userId), setKey], [exclusive(after, '-'), page.limit + 1]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    return pageOf(asArray(reply) as string[], page.limit, (id) => id);
  }
}

// ---------------------------------------------------------------- videos

type WireOp = [string, ...(string | number)[]];

class RedisVideos implements VideoStore {
  constructor(private readonly ctx: Context) {}

  async create(video: VideoRecord): Promise<VideoState> {
    const { keys, scripts } = this.ctx;
    const { tagging, ...record } = video;
    const epoch = randomUUID();
    // the video first, then the owner's outbox and the tag indexes (other slots)
    await scripts.run('video-create', keys.videoAll(video.id), [
      JSON.stringify(record),
      video.ownerId,
      epoch,
      tagging === undefined ? '' : JSON.stringify(tagging),
    ]);
    await scripts.run('user-videos', [keys.user(video.ownerId), keys.userVideos(video.ownerId)], [video.id]);
    await this.moveTags(video.id, [], tagging?.tags ?? []);
    return { video: copy(video), counters: { likes: 0, comments: 0, views: 0, version: 0 }, log: { offset: 0, epoch } };
  }

  async get(id: string): Promise<VideoState | null> {
    const { keys, scripts } = this.ctx;
    const k = keys.video(id);
    const reply = await scripts.run('video-state', [k.meta, k.likers, k.commentOrder, k.log], [randomUUID()]);
    if (!Array.isArray(reply)) return null;
    const [recordJson, taggingJson, likes, comments, views, version, head, epoch] = reply as [string, string, number, number, number, number, number, string];
    const video = JSON.parse(recordJson) as VideoRecord;
    if (taggingJson !== '') video.tagging = JSON.parse(taggingJson) as TagInfo;
    return { video, counters: { likes, comments, views, version }, log: { offset: head, epoch } };
  }

  async getMany(ids: string[]): Promise<(VideoState | null)[]> {
    return Promise.all(ids.map((id) => this.get(id)));
  }

  async delete(id: string): Promise<boolean> {
    const { client, keys, scripts } = this.ctx;
    const [owner, taggingJson] = await io(() => client.hmget(keys.video(id).meta, 'owner', 'tagging'));
    if (owner === null || owner === undefined) return false;
    // Indexes in other slots first, the video itself last: a delete that fails half-way
    // leaves the video in place, so a retry finds it and finishes.
    const tags = taggingJson ? (JSON.parse(taggingJson) as TagInfo).tags : [];
    await Promise.all([io(() => client.zrem(keys.userVideos(owner), id)), this.moveTags(id, tags, [])]);
    return (await scripts.run('video-delete', keys.videoAll(id), [])) === 1;
  }

  async applyOps(videoId: string, ops: VideoOp[], opts: { now: number }): Promise<VideoBatchResult> {
    const { keys, scripts, limits } = this.ctx;
    // client-supplied text (idempotency keys, comment JSON) travels as separate ARGV
    // entries, so cjson never has to decode it (it rejects lone surrogate escapes)
    const text: string[] = [];
    const FIRST_TEXT_ARG = 6;
    const wire = ops.map((op): WireOp => {
      switch (op.type) {
        case 'like':
          return ['l', op.userId];
        case 'unlike':
          return ['u', op.userId];
        case 'view':
          return op.viewerId === undefined ? ['v'] : ['v', op.viewerId];
        case 'comment': {
          const n = FIRST_TEXT_ARG + text.length;
          text.push(op.idempotencyKey, JSON.stringify(op.comment));
          const c = op.comment;
          return c.replyTo === undefined ? ['c', c.authorId, c.id, n] : ['c', c.authorId, c.id, n, c.replyTo];
        }
        case 'deleteComment':
          return ['d', op.commentId, op.userId];
      }
    });
    const reply = await scripts.run('video-apply', keys.videoAll(videoId), [
      JSON.stringify(wire),
      opts.now,
      limits.viewDedupS * 1000,
      limits.eventLogMax,
      randomUUID(),
      ...text,
    ]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const out = JSON.parse(String(reply)) as {
      r: unknown;
      c: Counters;
      h: number;
      e: string;
      ev: unknown;
    };
    const raw = asArray(out.r);
    const results = ops.map((op, i) => opResult(op, raw[i]));
    const counters: Counters = { likes: out.c.likes, comments: out.c.comments, views: out.c.views, version: out.c.version };
    const appended = asArray(out.ev) as string[];
    const first = out.h - appended.length + 1;
    const events = appended.map((json, i) => ({ offset: first + i, ...(JSON.parse(json) as object) }) as VideoEvent);
    return { results, counters, log: { offset: out.h, epoch: out.e }, events };
  }

  async likedBy(videoId: string, userIds: string[]): Promise<boolean[]> {
    const { client, keys } = this.ctx;
    if (userIds.length === 0) return [];
    const flags = await io(() => client.smismember(keys.video(videoId).likers, ...userIds));
    return flags.map((f) => f === 1);
  }

  async likedByUser(userId: string, videoIds: readonly string[]): Promise<boolean[]> {
    const { client, keys } = this.ctx;
    // one key per video, each in its own cluster slot: issued together, they share one round trip
    const flags = await io(() => Promise.all(videoIds.map((id) => client.sismember(keys.video(id).likers, userId))));
    return flags.map((f) => f === 1);
  }

  async comments(videoId: string, order: CommentOrder, page: PageRequest): Promise<Page<Comment>> {
    const { client, keys, scripts } = this.ctx;
    const k = keys.video(videoId);
    let cursor: string | undefined;
    try {
      cursor = decodeCursor(page.cursor);
    } catch (err) {
      // same precedence as the memory driver: an unknown video first
      if ((await io(() => client.exists(k.meta))) === 0) throw new TremoloError('E_VIDEO_NOT_FOUND');
      throw err;
    }
    const bound = exclusive(cursor, order === 'newest' ? '+' : '-');
    const reply = await scripts.run('video-comments', [k.meta, k.commentOrder, k.comments], [order, bound, page.limit + 1]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const fetched = asArray(reply).map((json) => JSON.parse(String(json)) as Comment);
    return pageOf(fetched, page.limit, (comment) => comment.id);
  }

  async events(videoId: string, sinceOffset: number, limit: number): Promise<EventRange> {
    const { keys, scripts } = this.ctx;
    const k = keys.video(videoId);
    // -1 is never complete (offsets start at 1), like a non-finite offset in the memory driver
    const since = Number.isFinite(sinceOffset) ? sinceOffset : -1;
    const count = Number.isFinite(limit) ? Math.max(0, Math.trunc(limit)) : limit > 0 ? Number.MAX_SAFE_INTEGER : 0;
    const reply = await scripts.run('video-events', [k.meta, k.log], [since, count, randomUUID()]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const [epoch, head, complete, entries] = reply as [string, number, number, [string, string[]][]];
    const events = asArray(entries).map((entry) => {
      const [id, fields] = entry as [string, string[]];
      return { offset: Number.parseInt(id, 10), ...(JSON.parse(fields[1] ?? '{}') as object) } as VideoEvent;
    });
    return { epoch, events, complete: complete === 1, head };
  }

  async setTagging(videoId: string, tagging: TagInfo): Promise<void> {
    const { keys, scripts } = this.ctx;
    const reply = await scripts.run('video-tagging', [keys.video(videoId).meta], [JSON.stringify(tagging)]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const previous = String(reply) === '' ? [] : (JSON.parse(String(reply)) as TagInfo).tags;
    await this.moveTags(videoId, previous, tagging.tags);
  }

  async byTag(tag: string, page: PageRequest): Promise<Page<string>> {
    const { client, keys } = this.ctx;
    const before = decodeCursor(page.cursor);
    const ids = await io(() => client.zrevrangebylex(keys.tag(tag), exclusive(before, '+'), '-', 'LIMIT', 0, page.limit + 1));
    return pageOf(ids, page.limit, (id) => id);
  }

  /** Moves a video from the `from` tag indexes to the `to` ones (each tag is its own slot). */
  private async moveTags(videoId: string, from: readonly string[], to: readonly string[]): Promise<void> {
    const { client, keys } = this.ctx;
    const keep = new Set(to);
    await Promise.all([
      ...from.filter((t) => !keep.has(t)).map((t) => io(() => client.zrem(keys.tag(t), videoId))),
      ...[...keep].map((t) => io(() => client.zadd(keys.tag(t), 0, videoId))),
    ]);
  }
}

/** One video-apply per-op reply -> the op's result (codes in video-apply-8.lua). */
function opResult(op: VideoOp, raw: unknown): VideoOpResult {
  if (isScriptFailure(raw)) {
    const code = failureCode(raw);
    if (code === 'E_COMMENT_NOT_FOUND' || code === 'E_FORBIDDEN' || code === 'E_REPLY_TARGET') return { ok: false, code };
    throw new TremoloError('E_INTERNAL', undefined, { cause: new Error(`video-apply answered ${code} for one ${op.type}`) });
  }
  switch (op.type) {
    case 'like':
    case 'unlike':
      return { ok: true, type: op.type, changed: raw === 1 };
    case 'view':
      return { ok: true, type: 'view', counted: raw === 1 };
    case 'comment':
      if (typeof raw === 'string') return { ok: true, type: 'comment', comment: JSON.parse(raw) as Comment, duplicate: true };
      // 2: a retry whose original was deleted since; like the memory driver, echo the op's comment
      return { ok: true, type: 'comment', comment: copy(op.comment), duplicate: raw !== 1 };
    case 'deleteComment':
      return { ok: true, type: 'deleteComment', deleted: true };
  }
}

// ---------------------------------------------------------------- feeds

class RedisFeeds implements FeedStore {
  constructor(private readonly ctx: Context) {}

  async pushToInboxes(userIds: string[], entry: FeedEntry, cap: number): Promise<void> {
    const { keys, scripts } = this.ctx;
    const member = inboxMember(entry);
    await scripts.runMany(
      'feed-push',
      userIds.map((id) => ({ keys: [keys.user(id), keys.inbox(id)], args: [member, cap] })),
    );
  }

  async inbox(userId: string, before: string | undefined, limit: number): Promise<FeedEntry[]> {
    const { client, keys } = this.ctx;
    if (!(limit > 0)) return [];
    // members sort by video id (see inboxMember), so `(${before}` excludes `before` itself
    const members = await io(() => client.zrevrangebylex(keys.inbox(userId), exclusive(before, '+'), '-', 'LIMIT', 0, limit));
    return members.map(inboxEntry);
  }

  async outbox(authorId: string, before: string | undefined, limit: number): Promise<string[]> {
    const { client, keys } = this.ctx;
    if (!(limit > 0)) return [];
    return io(() => client.zrevrangebylex(keys.userVideos(authorId), exclusive(before, '+'), '-', 'LIMIT', 0, limit));
  }

  async setHotScore(videoId: string, score: number | null): Promise<void> {
    const { client, keys } = this.ctx;
    if (score === null) {
      await io(() => client.zrem(keys.hot(), videoId));
      return;
    }
    const value = score === Infinity ? '+inf' : score === -Infinity ? '-inf' : score;
    await io(() => client.zadd(keys.hot(), value, videoId));
  }

  async hot(offset: number, limit: number): Promise<string[]> {
    const { client, keys } = this.ctx;
    const start = requireOffset(offset);
    if (!(limit > 0)) return [];
    // both bounds stay integers Redis can read (a number past 2^53 would be sent as 1e+21)
    const stop = Math.min(start + Math.ceil(limit) - 1, Number.MAX_SAFE_INTEGER);
    // ZREVRANGE breaks score ties by member, descending: the memory driver's order
    return io(() => client.zrevrange(keys.hot(), start, stop));
  }
}

// ---------------------------------------------------------------- jobs

const FINALS = [...FINAL_STAGES].join(',');

type JobField = keyof JobRecord;
const JOB_NUMBERS: ReadonlySet<JobField> = new Set(['percent', 'attempts', 'leaseUntil']);
const JOB_FIELDS: ReadonlySet<string> = new Set<JobField>([
  'id',
  'ownerId',
  'uploadId',
  'title',
  'description',
  'stage',
  'percent',
  'attempts',
  'createdAt',
  'updatedAt',
  'error',
  'videoId',
  'leaseOwner',
  'leaseUntil',
  'cancelRequested',
]);

/** One hash field per property: strings as is, numbers in decimal, `error` as JSON. */
function encodeJobValue(field: JobField, value: unknown): string {
  if (field === 'error') return JSON.stringify(value);
  if (field === 'cancelRequested') return value ? '1' : '0';
  return String(value);
}

function encodeJobFields(values: Partial<JobRecord>): { set: string[]; unset: string[] } {
  const set: string[] = [];
  const unset: string[] = [];
  for (const [field, value] of Object.entries(values)) {
    if (!JOB_FIELDS.has(field)) continue;
    if (value === undefined) unset.push(field);
    else set.push(field, encodeJobValue(field as JobField, value));
  }
  return { set, unset };
}

function decodeJob(reply: unknown): JobRecord | null {
  const flat = asArray(reply) as string[];
  if (flat.length === 0) return null;
  const job: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]! as JobField;
    const raw = flat[i + 1]!;
    if (field === 'error') job.error = JSON.parse(raw) as JobRecord['error'];
    else if (field === 'cancelRequested') job.cancelRequested = raw === '1';
    else if (JOB_NUMBERS.has(field)) job[field] = Number(raw);
    else job[field] = raw;
  }
  return job as unknown as JobRecord;
}

class RedisJobs implements JobStore {
  constructor(private readonly ctx: Context) {}

  async create(job: JobRecord): Promise<void> {
    const { keys, scripts } = this.ctx;
    const { set } = encodeJobFields(job);
    await scripts.run('job-create', [keys.job(job.id), keys.activeJobs()], [job.id, FINAL_STAGES.has(job.stage) ? '1' : '0', ...set]);
  }

  async get(id: string): Promise<JobRecord | null> {
    const { client, keys } = this.ctx;
    const hash = await io(() => client.hgetall(keys.job(id)));
    return decodeJob(Object.entries(hash).flat());
  }

  async update(id: string, patch: JobPatch, opts: { now: number; owner?: string }): Promise<JobRecord | null> {
    const { keys, scripts } = this.ctx;
    const { set, unset } = encodeJobFields({ ...patch, updatedAt: new Date(opts.now).toISOString() });
    if (patch.stage !== undefined && FINAL_STAGES.has(patch.stage as JobStage)) unset.push('leaseOwner', 'leaseUntil');
    const reply = await scripts.run('job-update', [keys.job(id), keys.activeJobs()], [
      id,
      opts.owner === undefined ? '0' : '1',
      opts.owner ?? '',
      FINALS,
      set.length / 2,
      ...set,
      ...unset,
    ]);
    return decodeJob(reply);
  }

  async claim(owner: string, opts: { now: number; leaseMs: number; maxAttempts: number }): Promise<JobRecord | null> {
    const { keys, scripts } = this.ctx;
    const reply = await scripts.run(
      'job-claim',
      [keys.activeJobs()],
      [keys.jobPrefix(), owner, opts.now, opts.now + opts.leaseMs, opts.maxAttempts, new Date(opts.now).toISOString(), FINALS],
    );
    return decodeJob(reply);
  }

  async renew(id: string, owner: string, opts: { now: number; leaseMs: number }): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('job-renew', [keys.job(id)], [owner, opts.now + opts.leaseMs, FINALS])) === 1;
  }

  async release(id: string, owner: string): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('job-release', [keys.job(id)], [owner, FINALS])) === 1;
  }
}

// ---------------------------------------------------------------- uploads (quota)

/** Every key of one user's quota shares the user's hash tag: each script touches one slot. */
class RedisUploads implements UploadStore {
  constructor(private readonly ctx: Context) {}

  async reserve(ownerId: string, uploadId: string, bytes: number, quotaBytes: number): Promise<Reservation> {
    const { keys, scripts } = this.ctx;
    const reply = asArray(
      await scripts.run('upload-reserve', [keys.reservations(ownerId), keys.reservedBytes(ownerId)], [uploadId, bytes, quotaBytes]),
    );
    return { ok: reply[0] === 1, usedBytes: Number(reply[1]) };
  }

  async usedBytes(ownerId: string): Promise<number> {
    const { client, keys } = this.ctx;
    return Number((await io(() => client.get(keys.reservedBytes(ownerId)))) ?? 0);
  }

  async addVideo(ownerId: string, uploadId: string, videoId: string): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('upload-add-video', [keys.reservations(ownerId), keys.uploadVideos(ownerId, uploadId)], [uploadId, videoId])) === 1;
  }

  async removeVideo(ownerId: string, uploadId: string, videoId: string): Promise<number> {
    const { keys, scripts } = this.ctx;
    return Number(await scripts.run('upload-remove-video', [keys.uploadVideos(ownerId, uploadId)], [videoId]));
  }

  async videos(ownerId: string, uploadId: string): Promise<string[]> {
    const { client, keys } = this.ctx;
    return (await io(() => client.smembers(keys.uploadVideos(ownerId, uploadId)))).sort();
  }

  async release(ownerId: string, uploadId: string): Promise<ReleaseOutcome> {
    const { keys, scripts } = this.ctx;
    const reply = await scripts.run(
      'upload-release',
      [keys.reservations(ownerId), keys.reservedBytes(ownerId), keys.uploadVideos(ownerId, uploadId)],
      [uploadId],
    );
    if (reply === 'released' || reply === 'held' || reply === 'absent') return reply;
    throw new TremoloError('E_INTERNAL', undefined, { cause: new Error(`upload-release answered ${String(reply)}`) });
  }
}

// ---------------------------------------------------------------- the whole

export class RedisStore implements Store {
  readonly driver = 'redis' as const;
  readonly users: UserStore;
  readonly videos: VideoStore;
  readonly feeds: FeedStore;
  readonly jobs: JobStore;
  readonly uploads: UploadStore;
  readonly #client: RedisClient;
  /** True when connect() made the client, so close() closes it. */
  #owned = false;

  constructor(opts: RedisStoreOptions) {
    const { redis, prefix, limits } = opts;
    if (!(redis instanceof Redis) && !(redis instanceof Cluster)) throw new TypeError('redis must be an ioredis Redis or Cluster');
    if (!Number.isInteger(limits.eventLogMax) || limits.eventLogMax < 0) throw new RangeError('limits.eventLogMax must be an integer >= 0');
    if (!Number.isFinite(limits.viewDedupS) || limits.viewDedupS < 0) throw new RangeError('limits.viewDedupS must be a number >= 0');
    this.#client = redis;
    const ctx: Context = { client: redis, keys: new RedisKeys(prefix), scripts: new Scripts(redis), limits: { ...limits } };
    this.users = new RedisUsers(ctx);
    this.videos = new RedisVideos(ctx);
    this.feeds = new RedisFeeds(ctx);
    this.jobs = new RedisJobs(ctx);
    this.uploads = new RedisUploads(ctx);
  }

  /**
   * Makes its own client and connects it (failing with E_STORAGE_UNAVAILABLE when Redis
   * does not answer within `timeoutMs`). The client fails fast afterwards: no offline
   * queue once connected, one retry per command, every command bounded by `timeoutMs`,
   * while it keeps reconnecting in the background. close() closes it.
   */
  static async connect(opts: RedisConnectOptions): Promise<RedisStore> {
    const { timeoutMs } = opts;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
    const common = {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 1,
    };
    const backoff = (times: number) => Math.min(50 * times, 1000);
    const client: RedisClient = opts.clusterNodes?.length
      ? new Cluster(opts.clusterNodes, {
          lazyConnect: true,
          enableOfflineQueue: true,
          clusterRetryStrategy: backoff,
          slotsRefreshTimeout: timeoutMs,
          redisOptions: common,
        })
      : new Redis(opts.url ?? 'redis://127.0.0.1:6379', { ...common, enableOfflineQueue: true, retryStrategy: backoff });
    const onError = opts.onError ?? (() => {});
    client.on('error', onError);
    try {
      await withTimeout(client.connect(), timeoutMs * 2);
    } catch (err) {
      client.disconnect();
      throw storageError(err);
    }
    // from now on a call made while Redis is away fails at once instead of queueing
    client.options.enableOfflineQueue = false;
    let store: RedisStore;
    try {
      store = new RedisStore({ redis: client, prefix: opts.prefix, limits: opts.limits });
    } catch (err) {
      client.disconnect();
      throw err;
    }
    store.#owned = true;
    return store;
  }

  /** The ioredis client, for parts that need Redis itself (pub/sub, rate limits); not part of Store. */
  get client(): Redis | Cluster {
    return this.#client;
  }

  async ping(): Promise<void> {
    await io(() => this.#client.ping());
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    const client = this.#client;
    if (client.status === 'ready') {
      try {
        await client.quit();
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    client.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
