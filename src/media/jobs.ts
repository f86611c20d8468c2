/**
 * JobsService: what the API may do with media jobs and the uploads they come from, below
 * transport and over `Store.jobs`, `Store.uploads` and the upload files:
 * - start the job of a finished upload (once: two requests racing for one upload get one job),
 *   get it, cancel it;
 * - reserve an upload's size of its owner's quota, and give it back when the upload goes;
 * - publish a finished upload's media again as a new video, and let go of a deleted video's media.
 *
 * The routes (transport/media/plugin.ts) check who is asking and present the answers; the
 * JobRunner (workers/) runs the jobs this service records; the MediaReclaimer (workers/)
 * gives back what nothing shows any more.
 */
import type { EventSink } from '../actors/events.ts';
import type { Clock } from '../domain/clock.ts';
import { FINAL_STAGES, type JobRecord } from '../domain/jobs.ts';
import type { UploadInfo } from '../domain/uploads.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { MediaRefs, Video, VideoRecord } from '../protocol/model.ts';
import type { JobStore } from '../storage/jobs.ts';
import type { MediaStore } from '../storage/media/media-store.ts';
import type { UploadFileStore } from '../storage/media/upload-files.ts';
import type { Locker } from '@tus/server';
import type { UploadStore } from '../storage/uploads.ts';
import { noopTracing, type TraceContext, type Tracing } from '../telemetry/tracing.ts';

/** The videos a job's media is published as (the Engine). */
export interface VideoPublisher {
  newId(): string;
  createVideo(ownerId: string, input: { title: unknown; description?: unknown; media?: MediaRefs }, trace?: TraceContext): Promise<Video>;
  getVideo(videoId: string): Promise<{ value: Video }>;
  deleteVideo(videoId: string, userId: string): Promise<unknown>;
}

/** The upload files as the tus routes use them: tus's data store, and reading, checking and removing one upload. */
export type UploadFileAccess = Pick<UploadFileStore, 'tusStore' | 'init' | 'info' | 'owned' | 'read' | 'remove' | 'truncate' | 'checksumMatches'>;

export interface JobsServiceDeps {
  jobs: JobStore;
  uploads: UploadStore;
  files: UploadFileStore;
  /** The upload lock shared by every process (STORAGE=redis); unset: tus's in-process one. */
  uploadLocker?: Locker;
  media: MediaStore;
  videos: VideoPublisher;
  sink: EventSink;
  clock: Clock;
  /** The runner's admission (E_QUEUE_FULL when this process has no room) and its wake-up call. */
  runner: { admit(): void; poke(): void };
  /** What an upload or a video leaves behind when it goes (workers/media-reclaimer.ts). */
  reclaimer: { uploadRemoved(ownerId: string, uploadId: string): Promise<void>; videoDeleted(video: VideoRecord): Promise<void> };
  /** False when this process has no usable ffmpeg: nothing new is started (E_MEDIA_UNAVAILABLE). */
  available: boolean;
  /** UPLOAD_QUOTA_BYTES: what one user's uploads may hold at once. */
  quotaBytes: number;
  /** A `media.job.create` span per job started; its context is stored with the job. Default: off. */
  tracing?: Tracing;
}

export class JobsService {
  readonly #d: JobsServiceDeps;

  constructor(deps: JobsServiceDeps) {
    this.#d = deps;
  }

  /** False when this process cannot process media: uploads and jobs answer E_MEDIA_UNAVAILABLE. */
  get available(): boolean {
    return this.#d.available;
  }

  /** The upload files, for the tus routes. */
  get files(): UploadFileAccess {
    return this.#d.files;
  }

  /** The lock tus takes on an upload for each request, when it is shared across processes. */
  get uploadLocker(): Locker | undefined {
    return this.#d.uploadLocker;
  }

  /** The caller's job; E_JOB_NOT_FOUND for anyone else's. */
  async get(jobId: string, userId: string): Promise<JobRecord> {
    const job = await this.#d.jobs.get(jobId);
    if (!job || job.ownerId !== userId) throw new TremoloError('E_JOB_NOT_FOUND');
    return job;
  }

  /**
   * The upload's job, created if it has none; E_QUEUE_FULL when this process has no room.
   * `trace`: the caller's span (the upload request), parent of the job's creation span.
   */
  async start(uploadId: string, userId: string, trace?: TraceContext): Promise<{ job: JobRecord; created: boolean }> {
    const { files, jobs, clock, sink, runner } = this.#d;
    if (!this.#d.available) throw new TremoloError('E_MEDIA_UNAVAILABLE');
    const info = await files.owned(uploadId, userId);
    if (info.size === undefined || info.offset < info.size) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const linked = await files.jobOf(uploadId);
    if (linked) {
      const job = await jobs.get(linked);
      if (job) return { job, created: false };
      await files.unlinkJob(uploadId); // its record is gone (memory storage restarted): start afresh
    }
    runner.admit();
    const now = clock.now();
    const tracing = this.#d.tracing ?? noopTracing;
    const id = this.#d.videos.newId();
    // The job is a message to whichever process claims it: this span is its creation context,
    // stored in the record (W3C traceparent), and every attempt's `media.job` span continues it.
    const span = tracing.start('media.job.create', { kind: 'producer', parent: trace, attributes: { 'tremolo.job.id': id, 'tremolo.upload.bytes': info.size } });
    try {
      const job = newJob(id, userId, info, new Date(now).toISOString(), tracing.inject(span.context), tracing.tracestate(span.context));
      const upload = { bytes: info.size, mime: declaredMime(info) };
      await tracing.run(span.context, () => jobs.create(job, upload));
      const winner = await tracing.run(span.context, () => files.linkJob(uploadId, job.id));
      if (winner !== job.id) {
        // Another request started this upload's job first: ours never ran; withdraw it.
        span.set({ 'tremolo.job.outcome': 'duplicate' });
        await tracing.run(span.context, () => jobs.update(job.id, { stage: 'cancelled' }, { now }));
        const other = await jobs.get(winner);
        if (!other) throw new TremoloError('E_BUSY');
        return { job: other, created: false };
      }
      sink.publish({ type: 'job:progress', userId, jobId: job.id, stage: 'queued', percent: 0 });
      runner.poke();
      return { job, created: true };
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  /** Cancels a queued or running job; E_JOB_FINISHED once it has ended. */
  async cancel(jobId: string, userId: string): Promise<JobRecord> {
    const { jobs, clock, media, sink } = this.#d;
    const job = await this.get(jobId, userId);
    if (FINAL_STAGES.has(job.stage)) throw new TremoloError('E_JOB_FINISHED');
    const now = clock.now();
    const held = job.leaseOwner !== undefined && (job.leaseUntil ?? 0) > now;
    if (held) {
      // The holder sees the flag on its next heartbeat, kills ffmpeg and cleans up.
      return (await jobs.update(jobId, { cancelRequested: true }, { now })) ?? job;
    }
    const updated = (await jobs.update(jobId, { stage: 'cancelled', cancelRequested: true }, { now })) ?? job;
    await media.remove(jobId);
    sink.publish({ type: 'job:progress', userId, jobId, stage: 'cancelled', percent: updated.percent });
    return updated;
  }

  /** Reserves an upload's declared size of the user's quota (E_QUOTA_EXCEEDED when it would not fit). */
  async reserveQuota(userId: string, uploadId: string, bytes: number): Promise<void> {
    const { quotaBytes } = this.#d;
    const r = await this.#d.uploads.reserve(userId, uploadId, bytes, quotaBytes);
    if (!r.ok) throw new TremoloError('E_QUOTA_EXCEEDED', undefined, { details: { quotaBytes, usedBytes: r.usedBytes } });
  }

  /**
   * The upload's files are gone (terminated, refused by its checksum, or never created):
   * give back its quota and stop its job, unless a video still shows media made from it.
   */
  uploadRemoved(uploadId: string, userId: string): Promise<void> {
    return this.#d.reclaimer.uploadRemoved(userId, uploadId);
  }

  /** Publishes the processed media of the caller's finished upload again, as a new video (E_UPLOAD_NOT_FOUND otherwise). */
  async publishFromUpload(userId: string, uploadId: string, input: { title: unknown; description?: unknown }, trace?: TraceContext): Promise<Video> {
    const { files, jobs, uploads, videos } = this.#d;
    await files.owned(uploadId, userId);
    const jobId = await files.jobOf(uploadId);
    const job = jobId ? await jobs.get(jobId) : null;
    if (!job || job.ownerId !== userId || job.stage !== 'ready' || !job.videoId) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const published = await videos.getVideo(job.videoId).catch(() => null);
    if (!published) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const { hls, mp4, poster } = published.value.media;
    const media: MediaRefs = { ...(hls ? { hls } : {}), ...(mp4 ? { mp4 } : {}), ...(poster ? { poster } : {}) };
    const video = await videos.createVideo(userId, { ...input, media }, trace);
    if (!(await uploads.addVideo(userId, uploadId, video.id))) {
      // the upload was removed meanwhile: its media is no longer anyone's to show
      await videos.deleteVideo(video.id, userId);
      throw new TremoloError('E_UPLOAD_NOT_FOUND');
    }
    return video;
  }

  /** A video was deleted: its media goes once no other video shows it, before this resolves. */
  videoDeleted(video: VideoRecord): Promise<void> {
    return this.#d.reclaimer.videoDeleted(video);
  }
}

/** A media type as `type/subtype` (RFC 6838 names), or '': the client's word, kept only when it looks like one. */
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/;

/** The media type the client declared for its upload (tus metadata `filetype`), for the `upload` event. */
function declaredMime(upload: UploadInfo): string {
  const declared = upload.metadata.filetype?.trim().toLowerCase() ?? '';
  return MIME.test(declared) ? declared : '';
}

/** A queued job for a finished upload, titled as its metadata says. */
function newJob(id: string, ownerId: string, upload: UploadInfo, at: string, traceparent: string | undefined, tracestate: string | undefined): JobRecord {
  return {
    ...(traceparent ? { traceparent } : {}),
    ...(traceparent && tracestate ? { tracestate } : {}),
    id,
    ownerId,
    uploadId: upload.id,
    title: upload.metadata.title ?? '',
    description: upload.metadata.description ?? '',
    stage: 'queued',
    percent: 0,
    attempts: 0,
    createdAt: at,
    updatedAt: at,
  };
}
