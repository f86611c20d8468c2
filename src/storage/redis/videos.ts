/**
 * Videos on Redis: each video's keys share one hash tag, so every write to a video is one
 * script on one slot (video-apply-14.lua holds the rules); the owner's outbox and the tag
 * indexes are other slots, written as idempotent steps around it.
 */
import { randomUUID } from 'node:crypto';
import { TSID_LENGTH } from '../../domain/ids.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { INTERACTION_SCHEMA_VERSION } from '../../protocol/interactions.ts';
import type { Comment, Counters, Page, PageRequest, TagInfo, VideoEvent, VideoRecord } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { COMMENT_TOP_DEFAULTS } from '../store.ts';
import type { CommentOrder, EventRange, VideoBatchResult, VideoOp, VideoOpResult, VideoState, VideoStore } from '../store.ts';
import { asArray, copy, exclusive, type RedisContext } from './context.ts';
import { writeArgs } from './interactions.ts';
import { likerMember } from './likers.ts';
import { failureCode, io, isScriptFailure, scriptFailure } from './scripts.ts';

type WireOp = [string, ...(string | number)[]];

/** The VideoStore of the Redis driver. */
export class RedisVideos implements VideoStore {
  constructor(private readonly ctx: RedisContext) {}

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
    await Promise.all([scripts.write(keys.userVideos(owner), (p) => p.zrem(keys.userVideos(owner), id)), this.moveTags(id, tags, [])]);
    // its comment threads and favoriters: the same slot, gone before the video itself
    const ck = keys.comments(id);
    await scripts.write(ck.info, (p) => p.del(ck.info, ck.threads, ck.likes, ck.top, keys.favoriters(id)));
    return (await scripts.run('video-delete', keys.videoAll(id), [])) === 1;
  }

  async applyOps(videoId: string, ops: VideoOp[], opts: { now: number }): Promise<VideoBatchResult> {
    const { keys, scripts, limits } = this.ctx;
    const trace = scripts.caller(); // the turn's span: the script is called after an await
    // client-supplied text (idempotency keys, comment JSON) travels as separate ARGV
    // entries, so cjson never has to decode it (it rejects lone surrogate escapes)
    const text: string[] = [];
    // ARGV: 12 fixed, then the texts (video-apply-14.lua)
    const FIRST_TEXT_ARG = 13;
    // each op's interaction event is built by the script from the op's fields (the same JSON as
    // videoOpEvent): only its id goes over the wire, all of them in one argument
    let eventIds = '';
    for (let i = 0; i < ops.length; i++) eventIds += this.ctx.eventId();
    if (eventIds.length !== ops.length * TSID_LENGTH) throw new TremoloError('E_INTERNAL', 'interaction event ids must be TSIDs');
    const wire = ops.map((op): WireOp => {
      switch (op.type) {
        case 'like':
          return ['l', op.userId, likerMember(op.userId)];
        case 'unlike':
          return ['u', op.userId, likerMember(op.userId)];
        case 'view':
          return op.viewerId === undefined ? ['v'] : ['v', op.viewerId];
        case 'comment': {
          const n = FIRST_TEXT_ARG + text.length;
          text.push(op.idempotencyKey, JSON.stringify(op.comment));
          const c = op.comment;
          const createdMs = Date.parse(c.createdAt);
          return c.replyTo === undefined ? ['c', c.authorId, c.id, n, createdMs] : ['c', c.authorId, c.id, n, createdMs, c.replyTo];
        }
        case 'deleteComment':
          return ['d', op.commentId, op.userId];
        case 'likeComment':
          return ['L', op.commentId, op.userId];
        case 'unlikeComment':
          return ['U', op.commentId, op.userId];
        case 'pinComment':
          return ['p', op.commentId ?? '', op.userId];
      }
    });
    const [stream, extra] = await this.ctx.streams.keysFor(videoId);
    const ck = keys.comments(videoId);
    const reply = await scripts.run('video-apply', [...keys.videoAll(videoId), ck.info, ck.threads, ck.likes, ck.top, stream, extra], [
      JSON.stringify(wire),
      opts.now,
      limits.viewDedupS * 1000,
      limits.eventLogMax,
      randomUUID(),
      limits.commentTopHalfLifeS ?? COMMENT_TOP_DEFAULTS.commentTopHalfLifeS,
      ...writeArgs(this.ctx.interactions),
      eventIds,
      videoId,
      INTERACTION_SCHEMA_VERSION,
      ...text,
    ], trace);
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
    if (userIds.length === 0) return [];
    const flags = asArray(await this.liked(videoId, userIds.flatMap((u) => [u, likerMember(u)])));
    return flags.map((f) => f === 1);
  }

  async likedByUser(userId: string, videoIds: readonly string[]): Promise<boolean[]> {
    const pair = [userId, likerMember(userId)];
    // one video per cluster slot: issued together, the scripts share one round trip
    const flags = await Promise.all(videoIds.map((id) => this.liked(id, pair)));
    return flags.map((f) => asArray(f)[0] === 1);
  }

  /**
   * Moves a video's likers from the set written before the bucketed layout (13-character ids)
   * into the buckets, a slice per script, while the video keeps taking likes. Returns how many
   * it took from the legacy set. Until it has run, every read and write sees both (lua/includes/likers.lua).
   */
  async migrateLikers(videoId: string, slice = 500): Promise<number> {
    const { client, keys, scripts } = this.ctx;
    const k = keys.video(videoId);
    let moved = 0;
    for (;;) {
      const users = await io(() => client.srandmember(k.likers, slice));
      if (users.length === 0) return moved;
      const left = await scripts.run('video-likers-migrate', [k.meta, k.likers], users.flatMap((u) => [u, likerMember(u)]));
      // a legacy set left behind by a deleted video: nothing to move it into
      if (left === -1) {
        await scripts.write(k.likers, (p) => p.del(k.likers));
        return moved;
      }
      moved += users.length;
      if (left === 0) return moved;
    }
  }

  private liked(videoId: string, pairs: string[]): Promise<unknown> {
    const k = this.ctx.keys.video(videoId);
    return this.ctx.scripts.run('video-liked', [k.meta, k.likers], pairs);
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
    const { keys, scripts } = this.ctx;
    const keep = new Set(to);
    await Promise.all([
      ...from.filter((t) => !keep.has(t)).map((t) => scripts.write(keys.tag(t), (p) => p.zrem(keys.tag(t), videoId))),
      ...[...keep].map((t) => scripts.write(keys.tag(t), (p) => p.zadd(keys.tag(t), 0, videoId))),
    ]);
  }
}

/**
 * The results of likes, unlikes and views, [unchanged, changed]: shared and frozen, since a
 * turn of hundreds of likes would otherwise make an object per like that nobody changes.
 */
const SIMPLE_RESULTS = {
  like: [Object.freeze({ ok: true, type: 'like', changed: false }), Object.freeze({ ok: true, type: 'like', changed: true })],
  unlike: [Object.freeze({ ok: true, type: 'unlike', changed: false }), Object.freeze({ ok: true, type: 'unlike', changed: true })],
  view: [Object.freeze({ ok: true, type: 'view', counted: false }), Object.freeze({ ok: true, type: 'view', counted: true })],
} as const satisfies Record<string, readonly [VideoOpResult, VideoOpResult]>;

/** One video-apply per-op reply -> the op's result (codes in video-apply-14.lua). */
function opResult(op: VideoOp, raw: unknown): VideoOpResult {
  if (isScriptFailure(raw)) {
    const code = failureCode(raw);
    if (code === 'E_COMMENT_NOT_FOUND' || code === 'E_FORBIDDEN' || code === 'E_REPLY_TARGET' || code === 'E_PIN_TARGET') return { ok: false, code };
    throw new TremoloError('E_INTERNAL', undefined, { cause: new Error(`video-apply answered ${code} for one ${op.type}`) });
  }
  switch (op.type) {
    case 'like':
    case 'unlike':
    case 'view':
      return SIMPLE_RESULTS[op.type][raw === 1 ? 1 : 0];
    case 'likeComment':
    case 'unlikeComment': {
      const [changed, likes, authorId] = raw as [number, number, string];
      return { ok: true, type: op.type, changed: changed === 1, likes, authorId };
    }
    case 'pinComment': {
      const [changed, pinned] = raw as [number, string];
      return { ok: true, type: 'pinComment', changed: changed === 1, pinned: pinned === '' ? null : pinned };
    }
    case 'comment':
      // a new reply: stored with its thread fields
      if (Array.isArray(raw)) return { ok: true, type: 'comment', comment: JSON.parse(String(raw[1])) as Comment, duplicate: false };
      if (typeof raw === 'string') return { ok: true, type: 'comment', comment: JSON.parse(raw) as Comment, duplicate: true };
      // 2: a retry whose original was deleted since; like the memory driver, echo the op's comment
      return { ok: true, type: 'comment', comment: copy(op.comment), duplicate: raw !== 1 };
    case 'deleteComment':
      return { ok: true, type: 'deleteComment', deleted: true };
  }
}
