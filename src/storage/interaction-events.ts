/**
 * The InteractionEvent each store write records. The memory driver builds it here; the Redis
 * driver hands follow and job events to its scripts as JSON, while video-apply-14.lua builds a
 * video op's event itself from the op's fields and its id (the same JSON as `videoOpEvent`,
 * which the contract suite checks), so a like costs 13 characters on the wire, not an event.
 */
import type { JobRecord } from '../domain/jobs.ts';
import { INTERACTION_SCHEMA_VERSION, type InteractionEvent } from '../protocol/interactions.ts';
import type { UserOp, VideoOp } from './store.ts';

/** A viewer key that is not a user id (`~<key>`, see Engine.view) is an anonymous session. */
function actor(viewerId: string | undefined): { userId?: string; sessionId?: string } {
  if (viewerId === undefined) return {};
  return viewerId.startsWith('~') ? { sessionId: viewerId.slice(1) } : { userId: viewerId };
}

/** The event a video op records when it takes effect. */
export function videoOpEvent(videoId: string, op: VideoOp, id: string, at: number): InteractionEvent | undefined {
  const base = { v: INTERACTION_SCHEMA_VERSION, id, at };
  switch (op.type) {
    case 'like':
    case 'unlike':
      return { ...base, type: op.type, userId: op.userId, videoId };
    case 'view':
      return { ...base, type: 'view', ...actor(op.viewerId), videoId };
    case 'comment':
      return { ...base, type: 'comment', userId: op.comment.authorId, videoId, commentId: op.comment.id };
    case 'deleteComment':
      return { ...base, type: 'comment_delete', userId: op.userId, videoId, commentId: op.commentId };
    case 'likeComment':
      return { ...base, type: 'comment_like', userId: op.userId, videoId, commentId: op.commentId };
    case 'unlikeComment':
      return { ...base, type: 'comment_unlike', userId: op.userId, videoId, commentId: op.commentId };
    case 'pinComment':
      // a pin is the owner's curation, not a viewer's interaction
      return undefined;
  }
}

/** The event a follow op records when it takes effect. */
export function userOpEvent(userId: string, op: UserOp, id: string, at: number): InteractionEvent {
  return { v: INTERACTION_SCHEMA_VERSION, id, at, type: op.type, userId, targetId: op.targetId };
}

/** What the upload a job was made from looked like (for its `upload` event). */
export interface UploadFacts {
  bytes: number;
  /** The client's declared media type (tus metadata `filetype`); '' when none or unusable. */
  mime: string;
}

/** The `upload` event a new job records (its upload finished). */
export function uploadEvent(job: Pick<JobRecord, 'id' | 'ownerId' | 'uploadId' | 'createdAt'>, upload: UploadFacts, id: string): InteractionEvent {
  return {
    v: INTERACTION_SCHEMA_VERSION,
    id,
    at: Date.parse(job.createdAt),
    type: 'upload',
    userId: job.ownerId,
    jobId: job.id,
    uploadId: job.uploadId,
    bytes: upload.bytes,
    mime: upload.mime,
  };
}

/**
 * The `job_stage` event of a job that entered `job.stage`. The Redis scripts build the same
 * JSON themselves (includes/job-stage-event.lua) for changes only they see happen.
 */
export function jobStageEvent(job: Pick<JobRecord, 'id' | 'ownerId' | 'stage' | 'videoId'>, id: string, at: number): InteractionEvent {
  return {
    v: INTERACTION_SCHEMA_VERSION,
    id,
    at,
    type: 'job_stage',
    userId: job.ownerId,
    jobId: job.id,
    stage: job.stage,
    ...(job.videoId !== undefined ? { videoId: job.videoId } : {}),
  };
}
