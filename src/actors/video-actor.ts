/**
 * VideoActor: one video's likes, views and comments, and its comments' likes and pin.
 * Comment likes belong here rather than to a per-comment actor: they live in the video's keys
 * (one hash tag, one script) and their counter events take their place in the video's log, so
 * a turn of likes, comments and comment likes is still ONE atomic write. A turn turns its batch of writes
 * into ONE `videos.applyOps` call; the store answers with the authoritative counters
 * and the events it appended, which the actor keeps and publishes after the commit.
 */
import type { Clock } from '../domain/clock.ts';
import type { TsidGenerator } from '../domain/ids.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Comment, Counters, VideoRecord } from '../protocol/model.ts';
import type { Mention } from '../protocol/social.ts';
import type { LogHead, Store, VideoOp, VideoOpResult } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import { actorKind, type ActorBehavior, type Answers, type TurnOutcome } from './runtime.ts';

export type VideoMsg =
  | { type: 'read' }
  | { type: 'like'; userId: string }
  | { type: 'unlike'; userId: string }
  | { type: 'view'; viewerId?: string }
  | { type: 'comment'; authorId: string; text: string; replyTo?: string; idempotencyKey: string; mentions?: Mention[] }
  | { type: 'deleteComment'; commentId: string; userId: string }
  | { type: 'likeComment'; commentId: string; userId: string }
  | { type: 'unlikeComment'; commentId: string; userId: string }
  | { type: 'pinComment'; commentId: string | null; userId: string };

export interface VideoSnapshot {
  video: VideoRecord;
  counters: Counters;
  log: LogHead;
}

/** Every write is answered with the authoritative counters and log head after it. */
interface Written {
  counters: Counters;
  log: LogHead;
}
export interface LikeReply extends Written {
  /** False when the like (or unlike) was already in place. */
  changed: boolean;
}
export interface ViewReply extends Written {
  /** False for a repeat view within the dedup window. */
  counted: boolean;
}
export interface CommentReply extends Written {
  comment: Comment;
  /** True when the idempotency key was seen before: `comment` is the one stored then. */
  duplicate: boolean;
}
export interface DeleteCommentReply extends Written {
  deleted: boolean;
}
export interface CommentLikeReply extends Written {
  changed: boolean;
  commentId: string;
  /** The comment's exact like count after the write. */
  likes: number;
}
export interface PinReply extends Written {
  changed: boolean;
  pinned: string | null;
}

/** The reply to each type of VideoMsg. */
export interface VideoReplies {
  read: VideoSnapshot;
  like: LikeReply;
  unlike: LikeReply;
  view: ViewReply;
  comment: CommentReply;
  deleteComment: DeleteCommentReply;
  likeComment: CommentLikeReply;
  unlikeComment: CommentLikeReply;
  pinComment: PinReply;
}

export type VideoReply = VideoReplies[keyof VideoReplies];

export const VIDEO_ACTOR = actorKind<VideoMsg, VideoReplies>('video');

interface VideoState extends VideoSnapshot {
  loadedAt: number;
}

export interface VideoActorDeps {
  store: Store;
  sink: EventSink;
  clock: Clock;
  ids: TsidGenerator;
  /** A read never serves state older than this. */
  readStaleMs: number;
  /** Told after each committed change of counters (hot ranking, caches). */
  onCountersChanged?: (video: VideoRecord, counters: Counters) => void;
}

export function videoActor(deps: VideoActorDeps): ActorBehavior<VideoState, VideoMsg, VideoReplies> {
  const load = async (id: string): Promise<VideoState> => {
    const state = await deps.store.videos.get(id);
    if (!state) throw new TremoloError('E_VIDEO_NOT_FOUND');
    return { ...state, loadedAt: deps.clock.now() };
  };

  return {
    activate: load,

    async turn(state, batch, id): Promise<TurnOutcome<VideoMsg, VideoReplies>> {
      const now = deps.clock.now();
      const ops: VideoOp[] = [];
      const opIndex: number[] = []; // message index -> op index (-1 for reads)
      for (const msg of batch) {
        opIndex.push(msg.type === 'read' ? -1 : ops.length);
        switch (msg.type) {
          case 'read':
            break;
          case 'comment': {
            const comment: Comment = {
              id: `${id}-${deps.ids.next()}`,
              videoId: id,
              authorId: msg.authorId,
              text: msg.text,
              createdAt: new Date(now).toISOString(),
              ...(msg.replyTo !== undefined ? { replyTo: msg.replyTo } : {}),
              ...(msg.mentions?.length ? { mentions: msg.mentions } : {}),
            };
            ops.push({ type: 'comment', comment, idempotencyKey: msg.idempotencyKey });
            break;
          }
          default:
            ops.push(msg);
        }
      }

      if (ops.length === 0) {
        if (now - state.loadedAt > deps.readStaleMs) Object.assign(state, await load(id));
        return { answer: answers(state, [], opIndex) };
      }

      const result = await deps.store.videos.applyOps(id, ops, { now });
      const before = state.counters;
      state.counters = result.counters;
      state.log = result.log;
      state.loadedAt = now;
      const { counters, log } = result;
      return {
        answer: answers({ video: state.video, counters, log }, result.results, opIndex),
        afterCommit: () => {
          if (result.events.length) {
            deps.sink.publish({ type: 'video', videoId: id, epoch: log.epoch, events: result.events });
          }
          notifyOwner(deps.sink, state.video, batch, result.results, counters);
          notifyCommentAuthors(deps.sink, id, batch, result.results);
          if (before.likes !== counters.likes || before.comments !== counters.comments || before.views !== counters.views) {
            deps.onCountersChanged?.(state.video, counters);
          }
        },
      };
    },
  };
}

type OkResult = Extract<VideoOpResult, { ok: true }>;

// the result types each reply accepts, made once rather than once per answered message
const LIKE_RESULTS = ['like', 'unlike'] as const;
const VIEW_RESULTS = ['view'] as const;
const COMMENT_RESULTS = ['comment'] as const;
const DELETE_RESULTS = ['deleteComment'] as const;
const COMMENT_LIKE_RESULTS = ['likeComment', 'unlikeComment'] as const;
const PIN_RESULTS = ['pinComment'] as const;

/**
 * Each message's reply, from the state after the turn and the store's result for its op
 * (`opIndex`: message index -> op index; reads have none).
 */
function answers(after: VideoSnapshot, results: readonly VideoOpResult[], opIndex: readonly number[]): Answers<VideoMsg, VideoReplies> {
  const { counters, log } = after;
  /** The reply to the i-th message from its op's result, when the result is of one of `types`. */
  const written = <T extends OkResult['type'], Reply>(i: number, types: readonly T[], reply: (r: Extract<OkResult, { type: T }>) => Reply) => {
    const r = results[opIndex[i] ?? -1];
    if (r === undefined) return new TremoloError('E_INTERNAL', 'the store answered fewer ops than it was given');
    if (!r.ok) return new TremoloError(r.code);
    if (!isOfType(r, types)) return new TremoloError('E_INTERNAL', `the store answered a ${types.join('/')} op with a ${r.type} result`);
    return reply(r);
  };
  // A turn of hundreds of likes answers each with one of two replies that differ only in
  // `changed` (the counters and log head are the turn's): made once each, frozen, shared.
  const likeReplies: [LikeReply?, LikeReply?] = [];
  const viewReplies: [ViewReply?, ViewReply?] = [];
  const likeReply = (r: { changed: boolean }) => (likeReplies[r.changed ? 1 : 0] ??= Object.freeze({ changed: r.changed, counters, log }));
  const viewReply = (r: { counted: boolean }) => (viewReplies[r.counted ? 1 : 0] ??= Object.freeze({ counted: r.counted, counters, log }));
  return {
    read: () => ({ video: after.video, counters, log }),
    like: (_msg, i) => written(i, LIKE_RESULTS, likeReply),
    unlike: (_msg, i) => written(i, LIKE_RESULTS, likeReply),
    view: (_msg, i) => written(i, VIEW_RESULTS, viewReply),
    comment: (_msg, i) => written(i, COMMENT_RESULTS, (r) => ({ comment: r.comment, duplicate: r.duplicate, counters, log })),
    deleteComment: (_msg, i) => written(i, DELETE_RESULTS, (r) => ({ deleted: r.deleted, counters, log })),
    likeComment: (msg, i) => written(i, COMMENT_LIKE_RESULTS, (r) => ({ changed: r.changed, commentId: msg.commentId, likes: r.likes, counters, log })),
    unlikeComment: (msg, i) => written(i, COMMENT_LIKE_RESULTS, (r) => ({ changed: r.changed, commentId: msg.commentId, likes: r.likes, counters, log })),
    pinComment: (_msg, i) => written(i, PIN_RESULTS, (r) => ({ changed: r.changed, pinned: r.pinned, counters, log })),
  };
}

function isOfType<T extends OkResult['type']>(r: OkResult, types: readonly T[]): r is Extract<OkResult, { type: T }> {
  return (types as readonly string[]).includes(r.type);
}

/** The owner hears of new likes (one notification per turn, however many) and each new comment. */
function notifyOwner(
  sink: EventSink,
  video: VideoRecord,
  batch: readonly VideoMsg[],
  results: Awaited<ReturnType<Store['videos']['applyOps']>>['results'],
  counters: Counters,
): void {
  const likerIds: string[] = [];
  let k = 0;
  for (const msg of batch) {
    if (msg.type === 'read') continue;
    const r = results[k++];
    if (!r?.ok) continue;
    if (r.type === 'like' && r.changed && msg.type === 'like' && msg.userId !== video.ownerId) likerIds.push(msg.userId);
    if (r.type === 'comment' && !r.duplicate && r.comment.authorId !== video.ownerId) {
      sink.publish({
        type: 'notification',
        userId: video.ownerId,
        notification: { type: 'video:commented', videoId: video.id, commentId: r.comment.id, authorId: r.comment.authorId, text: r.comment.text },
      });
    }
  }
  if (likerIds.length) {
    sink.publish({
      type: 'notification',
      userId: video.ownerId,
      notification: { type: 'video:liked', videoId: video.id, likerIds: likerIds.slice(0, 20), likes: counters.likes },
    });
  }
}

/**
 * A comment's author hears of new likes on it: one notification per comment per turn, with
 * the likers of that turn and the count after it (never for liking your own comment).
 */
function notifyCommentAuthors(sink: EventSink, videoId: string, batch: readonly VideoMsg[], results: readonly VideoOpResult[]): void {
  const byComment = new Map<string, { authorId: string; likerIds: string[]; likes: number }>();
  let k = 0;
  for (const msg of batch) {
    if (msg.type === 'read') continue;
    const r = results[k++];
    if (msg.type !== 'likeComment' || !r?.ok || r.type !== 'likeComment') continue;
    let entry = byComment.get(msg.commentId);
    if (!entry) byComment.set(msg.commentId, (entry = { authorId: r.authorId, likerIds: [], likes: r.likes }));
    entry.likes = r.likes;
    if (r.changed && msg.userId !== r.authorId) entry.likerIds.push(msg.userId);
  }
  for (const [commentId, { authorId, likerIds, likes }] of byComment) {
    if (likerIds.length === 0) continue;
    sink.publish({ type: 'notification', userId: authorId, notification: { type: 'comment:liked', videoId, commentId, likerIds: likerIds.slice(0, 20), likes } });
  }
}
