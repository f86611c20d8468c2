/**
 * VideoActor: one video's likes, views and comments. A turn turns its batch of writes
 * into ONE `videos.applyOps` call; the store answers with the authoritative counters
 * and the events it appended, which the actor keeps and publishes after the commit.
 */
import type { Clock } from '../domain/clock.ts';
import type { TsidGenerator } from '../domain/ids.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Comment, Counters, VideoRecord } from '../protocol/model.ts';
import type { LogHead, Store, VideoOp } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import type { ActorBehavior, TurnOutcome } from './runtime.ts';

export const VIDEO_ACTOR = 'video';

export type VideoMsg =
  | { type: 'read' }
  | { type: 'like'; userId: string }
  | { type: 'unlike'; userId: string }
  | { type: 'view'; viewerId?: string }
  | { type: 'comment'; authorId: string; text: string; replyTo?: string; idempotencyKey: string }
  | { type: 'deleteComment'; commentId: string; userId: string };

export interface VideoSnapshot {
  video: VideoRecord;
  counters: Counters;
  log: LogHead;
}

export type VideoReply =
  | VideoSnapshot
  | { changed: boolean; counters: Counters; log: LogHead }
  | { counted: boolean; counters: Counters; log: LogHead }
  | { comment: Comment; duplicate: boolean; counters: Counters; log: LogHead }
  | { deleted: boolean; counters: Counters; log: LogHead };

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

export function videoActor(deps: VideoActorDeps): ActorBehavior<VideoState, VideoMsg, VideoReply> {
  const load = async (id: string): Promise<VideoState> => {
    const state = await deps.store.videos.get(id);
    if (!state) throw new TremoloError('E_VIDEO_NOT_FOUND');
    return { ...state, loadedAt: deps.clock.now() };
  };

  return {
    activate: load,

    async turn(state, batch, id): Promise<TurnOutcome<VideoReply>> {
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
        const snapshot = { video: state.video, counters: state.counters, log: state.log };
        return { replies: batch.map(() => snapshot) };
      }

      const result = await deps.store.videos.applyOps(id, ops, { now });
      const before = state.counters;
      state.counters = result.counters;
      state.log = result.log;
      state.loadedAt = now;
      const { counters, log } = result;
      const replies = batch.map((msg, i): VideoReply | TremoloError => {
        const k = opIndex[i]!;
        if (k < 0) return { video: state.video, counters, log };
        const r = result.results[k]!;
        if (!r.ok) return new TremoloError(r.code);
        switch (r.type) {
          case 'like':
          case 'unlike':
            return { changed: r.changed, counters, log };
          case 'view':
            return { counted: r.counted, counters, log };
          case 'comment':
            return { comment: r.comment, duplicate: r.duplicate, counters, log };
          case 'deleteComment':
            return { deleted: r.deleted, counters, log };
        }
      });

      return {
        replies,
        afterCommit: () => {
          if (result.events.length) {
            deps.sink.publish({ type: 'video', videoId: id, epoch: log.epoch, events: result.events });
          }
          notifyOwner(deps.sink, state.video, batch, result.results, counters);
          if (before.likes !== counters.likes || before.comments !== counters.comments || before.views !== counters.views) {
            deps.onCountersChanged?.(state.video, counters);
          }
        },
      };
    },
  };
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
