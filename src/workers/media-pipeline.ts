/**
 * The media pipeline, assembled: uploads (tus) -> job records -> JobRunner on the MediaPool
 * -> published videos, plus the signed `/media/*` routes that serve the result.
 *
 * main.ts calls `startMediaPipeline` once and gets back the routes to register, the
 * `presentMedia` that turns stored media paths into freshly signed URLs in every video
 * response, `videoMedia` for the video routes (`POST /v1/videos { uploadId }`, and letting
 * go of a deleted video's media), and `close`.
 *
 * The upload quota is reserved in storage (storage/uploads.ts) when an upload is created and
 * given back by the MediaReclaimer once the upload and every video showing its media are gone.
 *
 * Several processes may share one Redis and one DATA_DIR: any of them can take an upload,
 * any can run its job (storage leases decide which), any can serve its media.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../actors/engine.ts';
import type { EventSink } from '../actors/events.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import type { MediaMetrics } from '../metrics.ts';
import { TremoloError, type ErrorCode } from '../protocol/errors.ts';
import type { MediaRefs, Video } from '../protocol/model.ts';
import { FINAL_STAGES, type JobRecord } from '../storage/jobs.ts';
import { FileMediaStore } from '../storage/media/media-store.ts';
import { UploadFiles } from '../storage/media/upload-files.ts';
import type { Store } from '../storage/store.ts';
import { jobRoutes } from '../transport/http/routes/jobs.ts';
import { uploadRoutes } from '../transport/http/routes/uploads.ts';
import type { VideoMedia } from '../transport/http/routes/videos.ts';
import { mediaRoutes, mediaUrlPath } from '../transport/media/routes.ts';
import { MediaSigner } from '../transport/media/signing.ts';
import { JobRunner } from './job-runner.ts';
import { MediaReclaimer } from './media-reclaimer.ts';
import { checkMediaTools, MIN_FFMPEG_RELEASE, resolveBinaries, type MediaToolsReport } from './media/tools.ts';
import { MediaPool } from './pool.ts';
import type { TaggerOptions } from './tasks/tag/types.ts';

export interface MediaPipelineDeps {
  config: Config;
  engine: Engine;
  store: Store;
  sink: EventSink;
  clock: Clock;
  onError: (err: unknown, context: string) => void;
  /** Uploads, jobs, the pool's queue, tagging models (the engine's registry). */
  metrics?: MediaMetrics;
}

export interface MediaPipeline {
  /** Registers `/v1/uploads`, `/v1/jobs` and `/media/*`. */
  routes: (app: FastifyInstance) => Promise<void>;
  /** Stored (relative) media paths -> signed URLs; external media as is. */
  presentMedia: (video: Video) => Video;
  /** The pipeline's part in publishing and deleting videos (the video routes). */
  videoMedia: VideoMedia;
  readonly runner: JobRunner;
  readonly reclaimer: MediaReclaimer;
  /** The start-up check of ffmpeg/ffprobe: when not ok, uploads and jobs answer E_MEDIA_UNAVAILABLE and no job runs here. */
  readonly tools: MediaToolsReport;
  /** Stops the runner (running jobs are stopped, their leases lapse) and the pool. */
  close(): Promise<void>;
}

export async function startMediaPipeline(deps: MediaPipelineDeps): Promise<MediaPipeline> {
  const { config, engine, store, sink, clock, onError, metrics } = deps;
  // Checked once at start: without a trusted ffmpeg the server still serves everything else.
  const tools = await checkMediaTools(resolveBinaries({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath }));
  if (!tools.ok) {
    onError(
      new TremoloError('E_MEDIA_UNAVAILABLE', undefined, { cause: tools.reason }),
      `media processing is off (uploads and jobs answer 503 E_MEDIA_UNAVAILABLE): ${tools.reason}. ` +
        `Install ffmpeg ${MIN_FFMPEG_RELEASE} or newer (apt-get install ffmpeg) or point FFMPEG_PATH and FFPROBE_PATH at it.`,
    );
  }
  const unavailable = (): TremoloError => new TremoloError('E_MEDIA_UNAVAILABLE');
  const files = new UploadFiles({ dataDir: config.dataDir });
  await files.init();
  const media = new FileMediaStore({ root: join(config.dataDir, 'media') });
  await mkdir(media.root, { recursive: true });
  const signer = new MediaSigner({ secret: config.mediaSecret, ttlS: config.mediaUrlTtlS });
  // Threads start with the first task: a process that never runs a job never pays for them.
  let poolInstance: MediaPool | undefined;
  const pool: Pick<MediaPool, 'run'> = {
    run: (task, input, opts) => (poolInstance ??= new MediaPool({ threads: config.workerThreads, maxQueue: config.workerMaxQueue, ...(metrics ? { metrics } : {}) })).run(task, input, opts),
  };

  const runner = new JobRunner({
    jobs: store.jobs,
    uploads: store.uploads,
    pool,
    publisher: {
      createVideo: (ownerId, input) => engine.createVideo(ownerId, input),
      setTagging: (videoId, tagging) => engine.setTagging(videoId, tagging),
      deleteVideo: (videoId, ownerId) => engine.deleteVideo(videoId, ownerId).then(() => undefined, ignoreCode('E_VIDEO_NOT_FOUND')),
    },
    sink,
    media,
    uploadPath: (id) => files.path(id),
    clock,
    onError,
    ...(metrics ? { metrics } : {}),
    settings: {
      // Unique per runner, not just per process: tests run several servers in one process.
      owner: `${config.nodeId}-${process.pid}-${randomBytes(3).toString('hex')}`,
      leaseMs: config.jobLeaseMs,
      maxAttempts: config.jobMaxAttempts,
      timeoutMs: config.jobTimeoutMs,
      capacity: config.workerThreads + config.workerMaxQueue,
      pollMs: Math.min(1000, Math.max(100, Math.floor(config.jobLeaseMs / 2))),
      maxDurationS: config.videoMaxSeconds,
      // The very files the check ran, not whatever PATH finds later.
      ...(tools.ok ? tools.binaries : {}),
      tagger: taggerOptions(config),
    },
  });

  const getJob = async (jobId: string, userId: string): Promise<JobRecord> => {
    const job = await store.jobs.get(jobId);
    if (!job || job.ownerId !== userId) throw new TremoloError('E_JOB_NOT_FOUND');
    return job;
  };

  const startJob = async (uploadId: string, userId: string): Promise<{ job: JobRecord; created: boolean }> => {
    if (!tools.ok) throw unavailable();
    const info = await files.owned(uploadId, userId);
    if (info.size === undefined || info.offset < info.size) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const linked = await files.jobOf(uploadId);
    if (linked) {
      const job = await store.jobs.get(linked);
      if (job) return { job, created: false };
      await files.unlinkJob(uploadId); // its record is gone (memory storage restarted): start afresh
    }
    runner.admit();
    const now = clock.now();
    const at = new Date(now).toISOString();
    const job: JobRecord = {
      id: engine.newId(),
      ownerId: userId,
      uploadId,
      title: info.metadata.title ?? '',
      description: info.metadata.description ?? '',
      stage: 'queued',
      percent: 0,
      attempts: 0,
      createdAt: at,
      updatedAt: at,
    };
    await store.jobs.create(job);
    const winner = await files.linkJob(uploadId, job.id);
    if (winner !== job.id) {
      // Another request started this upload's job first: ours never ran; withdraw it.
      await store.jobs.update(job.id, { stage: 'cancelled' }, { now });
      const other = await store.jobs.get(winner);
      if (!other) throw new TremoloError('E_BUSY');
      return { job: other, created: false };
    }
    sink.publish({ type: 'job:progress', userId, jobId: job.id, stage: 'queued', percent: 0 });
    runner.poke();
    return { job, created: true };
  };

  /** Reserves an upload's declared size of the user's quota (E_QUOTA_EXCEEDED when it would not fit). */
  const reserveQuota = async (userId: string, uploadId: string, bytes: number): Promise<void> => {
    const quotaBytes = config.uploadQuotaBytes;
    const r = await store.uploads.reserve(userId, uploadId, bytes, quotaBytes);
    if (!r.ok) throw new TremoloError('E_QUOTA_EXCEEDED', undefined, { details: { quotaBytes, usedBytes: r.usedBytes } });
  };

  const cancelJob = async (jobId: string, userId: string): Promise<JobRecord> => {
    const job = await getJob(jobId, userId);
    if (FINAL_STAGES.has(job.stage)) throw new TremoloError('E_JOB_FINISHED');
    const now = clock.now();
    const held = job.leaseOwner !== undefined && (job.leaseUntil ?? 0) > now;
    if (held) {
      // The holder sees the flag on its next heartbeat, kills ffmpeg and cleans up.
      return (await store.jobs.update(jobId, { cancelRequested: true }, { now })) ?? job;
    }
    const updated = (await store.jobs.update(jobId, { stage: 'cancelled', cancelRequested: true }, { now })) ?? job;
    await media.remove(jobId);
    sink.publish({ type: 'job:progress', userId, jobId, stage: 'cancelled', percent: updated.percent });
    return updated;
  };

  const base = config.publicUrl ? config.publicUrl.replace(/\/+$/, '') : '';
  const isAbsolute = (p: string): boolean => /^([a-z][a-z0-9+.-]*:|\/)/i.test(p);
  const presentMedia = (video: Video): Video => {
    const m = video.media;
    if (m.hls === undefined && m.mp4 === undefined && m.poster === undefined) return video;
    const out: MediaRefs = { ...m };
    for (const key of ['hls', 'mp4', 'poster'] as const) {
      const p = m[key];
      if (p === undefined || isAbsolute(p)) continue;
      try {
        out[key] = base + signer.sign(mediaUrlPath(p));
      } catch (err) {
        delete out[key]; // a path we would refuse to serve is better left out than served broken
        onError(err, `media path of video ${video.id}`);
      }
    }
    return { ...video, media: out };
  };

  const reclaimer = new MediaReclaimer({
    jobs: store.jobs,
    uploads: store.uploads,
    videos: store.videos,
    media,
    files,
    cancelJob: async (job) => {
      await cancelJob(job.id, job.ownerId).catch(ignoreCode('E_JOB_FINISHED'));
    },
    expiryMs: config.uploadExpiryS * 1000,
    forgetsOnRestart: store.driver === 'memory',
    onError,
  });

  const publishFromUpload: VideoMedia['publishFromUpload'] = async (userId, uploadId, input) => {
    await files.owned(uploadId, userId);
    const jobId = await files.jobOf(uploadId);
    const job = jobId ? await store.jobs.get(jobId) : null;
    if (!job || job.ownerId !== userId || job.stage !== 'ready' || !job.videoId) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const published = await engine.getVideo(job.videoId).catch(() => null);
    if (!published) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const { hls, mp4, poster } = published.value.media;
    const media: MediaRefs = { ...(hls ? { hls } : {}), ...(mp4 ? { mp4 } : {}), ...(poster ? { poster } : {}) };
    const video = await engine.createVideo(userId, { ...input, media });
    if (!(await store.uploads.addVideo(userId, uploadId, video.id))) {
      // the upload was removed meanwhile: its media is no longer anyone's to show
      await engine.deleteVideo(video.id, userId);
      throw new TremoloError('E_UPLOAD_NOT_FOUND');
    }
    return video;
  };

  const routes = async (app: FastifyInstance): Promise<void> => {
    await app.register(async (scope) => {
      // Without media tools, nothing new is accepted (no upload started or continued, no job
      // started); reading, cancelling and deleting what exists still works.
      if (!tools.ok) {
        scope.addHook('onRequest', async (req) => {
          if (req.method === 'POST' || req.method === 'PATCH') throw unavailable();
        });
      }
      await registerUploadsAndJobs(scope);
    });
    await app.register(mediaRoutes, { signer, store: media });
  };

  const registerUploadsAndJobs = async (app: FastifyInstance): Promise<void> => {
    await app.register(uploadRoutes, {
      files,
      limits: {
        maxBytes: config.uploadMaxBytes,
        quotaBytes: config.uploadQuotaBytes,
        expiryS: config.uploadExpiryS,
        titleMaxChars: config.titleMaxChars,
        descriptionMaxChars: config.descriptionMaxChars,
      },
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      corsOrigins: config.corsOrigins,
      reserveQuota,
      ...(metrics ? { metrics: metrics.uploads } : {}),
      startJob: async (upload, userId) => ({ jobId: (await startJob(upload.id, userId)).job.id }),
      onRemoved: (uploadId, userId) => reclaimer.uploadRemoved(userId, uploadId),
      onError,
    });
    await app.register(jobRoutes, { startJob, getJob, cancelJob });
  };

  // What a crash or a restart left behind is reclaimed now and then (and expired uploads removed).
  let sweeping: Promise<void> | undefined;
  const sweep = (): void => {
    sweeping ??= reclaimer
      .sweep(clock.now())
      .catch((err: unknown) => onError(err, 'media sweep'))
      .finally(() => (sweeping = undefined));
  };
  const sweepTimer = setInterval(sweep, Math.min(config.uploadExpiryS * 1000, 15 * 60_000));
  sweepTimer.unref();
  sweep();

  // A process without usable tools claims no job: another process (on shared storage) may.
  if (tools.ok) runner.start();
  return {
    routes,
    presentMedia,
    videoMedia: { publishFromUpload, videoDeleted: (video) => reclaimer.videoDeleted(video) },
    runner,
    reclaimer,
    tools,
    close: async () => {
      clearInterval(sweepTimer);
      await sweeping;
      await runner.close();
      await poolInstance?.close({ cancel: true });
    },
  };
}

/** A rejection handler that lets one expected code pass (the thing is gone or done already). */
function ignoreCode(code: ErrorCode): (err: unknown) => void {
  return (err) => {
    if (!(err instanceof TremoloError) || err.code !== code) throw err;
  };
}

function taggerOptions(config: Config): TaggerOptions {
  const triple = (text: string, name: string): [number, number, number] => {
    const v = text.split(',').map((x) => Number(x.trim()));
    if (v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new RangeError(`${name} must be three comma-separated numbers`);
    return [v[0]!, v[1]!, v[2]!];
  };
  const base: TaggerOptions = { device: config.taggerDevice, threads: config.taggerThreads };
  if (!config.taggerClassifierModel || !config.taggerClassifierLabels) return base;
  return {
    ...base,
    classifier: {
      modelPath: config.taggerClassifierModel,
      labelsPath: config.taggerClassifierLabels,
      size: config.taggerClassifierSize,
      mean: triple(config.taggerClassifierMean, 'TAGGER_CLASSIFIER_MEAN'),
      std: triple(config.taggerClassifierStd, 'TAGGER_CLASSIFIER_STD'),
      topK: config.taggerClassifierTopK,
      threshold: config.taggerClassifierThreshold,
    },
  };
}
