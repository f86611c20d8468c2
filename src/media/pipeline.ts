/**
 * The media pipeline below transport, assembled: upload files and media files on disk, the
 * worker pool and the JobRunner that turns job records into published videos, the
 * MediaReclaimer's periodic sweep, and the JobsService the routes use
 * (transport/media/plugin.ts registers those routes and signs what they hand out).
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
import type { EventSink } from '../actors/events.ts';
import { taggerOptions, type Config } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import type { MediaMetrics } from '../metrics.ts';
import { TremoloError, type ErrorCode } from '../protocol/errors.ts';
import type { TagInfo } from '../protocol/model.ts';
import { Bucket } from '../storage/media/bucket.ts';
import { BucketUploadFiles } from '../storage/media/bucket-uploads.ts';
import { BucketMediaStore, FileMediaStore, type MediaStore } from '../storage/media/media-store.ts';
import { UploadFiles, type UploadFileStore } from '../storage/media/upload-files.ts';
import { StorageUploadLocker } from './upload-locker.ts';
import type { Store } from '../storage/store.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import { JobRunner } from '../workers/job-runner.ts';
import { MediaReclaimer } from '../workers/media-reclaimer.ts';
import { checkMediaTools, MIN_FFMPEG_RELEASE, resolveBinaries, type MediaToolsReport } from '../workers/media/tools.ts';
import { MediaPool } from '../workers/pool.ts';
import { JobsService, type VideoPublisher } from './jobs.ts';

export interface MediaPipelineDeps {
  config: Config;
  /** Publishes what jobs make (the Engine). */
  videos: VideoPublisher & { setTagging(videoId: string, tagging: TagInfo): Promise<void> };
  store: Store;
  sink: EventSink;
  clock: Clock;
  onError: (err: unknown, context: string) => void;
  /** Uploads, jobs, the pool's queue, tagging models (the engine's registry). */
  metrics?: MediaMetrics;
  /** Spans of job creation, each attempt and its stages, and what worker threads timed. Default: off. */
  tracing?: Tracing;
}

export interface MediaPipeline {
  /** Jobs, uploads and the media of published videos, for the routes. */
  readonly jobs: JobsService;
  /** Where finished media lives, for the `/media/*` route (local files have a `root`). */
  readonly files: MediaStore & { readonly root?: string };
  readonly runner: JobRunner;
  readonly reclaimer: MediaReclaimer;
  /** The start-up check of ffmpeg/ffprobe: when not ok, uploads and jobs answer E_MEDIA_UNAVAILABLE and no job runs here. */
  readonly tools: MediaToolsReport;
  /** Stops the sweep, the runner (running jobs are stopped, their leases lapse) and the pool. */
  close(): Promise<void>;
}

export async function startMediaPipeline(deps: MediaPipelineDeps): Promise<MediaPipeline> {
  const { config, videos, store, sink, clock, onError, metrics, tracing } = deps;
  // Checked once at start: without a trusted ffmpeg the server still serves everything else.
  const tools = await checkMediaTools(resolveBinaries({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath }));
  if (!tools.ok) {
    onError(
      new TremoloError('E_MEDIA_UNAVAILABLE', undefined, { cause: tools.reason }),
      `media processing is off (uploads and jobs answer 503 E_MEDIA_UNAVAILABLE): ${tools.reason}. ` +
        `Install ffmpeg ${MIN_FFMPEG_RELEASE} or newer (apt-get install ffmpeg) or point FFMPEG_PATH and FFPROBE_PATH at it.`,
    );
  }
  let files: UploadFileStore;
  let media: MediaStore & { readonly root?: string };
  let bucket: Bucket | undefined;
  if (config.mediaStore === 's3') {
    // config refuses to start without these (no built-in credentials)
    bucket = new Bucket({
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
      region: config.s3Region,
      bucket: config.s3Bucket ?? '',
      accessKeyId: config.s3AccessKeyId ?? '',
      secretAccessKey: config.s3SecretAccessKey ?? '',
      forcePathStyle: config.s3ForcePathStyle,
    });
    files = new BucketUploadFiles(bucket, store.uploads);
    media = new BucketMediaStore(bucket);
  } else {
    files = new UploadFiles({ dataDir: config.dataDir });
    const local = new FileMediaStore({ root: join(config.dataDir, 'media') });
    await mkdir(local.root, { recursive: true });
    media = local;
  }
  await files.init();
  // One process on the memory store: tus's in-process lock is all there is to share.
  const uploadLocker =
    store.driver === 'memory' ? undefined : new StorageUploadLocker({ locks: store.uploads, ttlMs: config.uploadLockTtlMs, onError });
  // Threads start with the first task: a process that never runs a job never pays for them.
  let poolInstance: MediaPool | undefined;
  const pool: Pick<MediaPool, 'run'> = {
    run: (task, input, opts) => (poolInstance ??= new MediaPool({ threads: config.workerThreads, maxQueue: config.workerMaxQueue, ...(metrics ? { metrics } : {}), ...(tracing ? { tracing } : {}) })).run(task, input, opts),
  };

  const runner = new JobRunner({
    jobs: store.jobs,
    uploads: store.uploads,
    pool,
    publisher: {
      createVideo: (ownerId, input, trace) => videos.createVideo(ownerId, input, trace),
      setTagging: (videoId, tagging) => videos.setTagging(videoId, tagging),
      deleteVideo: (videoId, ownerId) => videos.deleteVideo(videoId, ownerId).then(() => undefined, ignoreCode('E_VIDEO_NOT_FOUND')),
    },
    sink,
    media,
    sourceFile: (id) => files.localCopy(id),
    clock,
    onError,
    ...(metrics ? { metrics } : {}),
    ...(tracing ? { tracing } : {}),
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

  const reclaimer: MediaReclaimer = new MediaReclaimer({
    jobs: store.jobs,
    uploads: store.uploads,
    videos: store.videos,
    media,
    files,
    cancelJob: async (job) => {
      await jobs.cancel(job.id, job.ownerId).catch(ignoreCode('E_JOB_FINISHED'));
    },
    expiryMs: config.uploadExpiryS * 1000,
    forgetsOnRestart: store.driver === 'memory',
    onError,
  });

  const jobs = new JobsService({
    jobs: store.jobs,
    uploads: store.uploads,
    files,
    ...(uploadLocker ? { uploadLocker } : {}),
    media,
    videos,
    sink,
    clock,
    runner,
    reclaimer,
    available: tools.ok,
    quotaBytes: config.uploadQuotaBytes,
    ...(tracing ? { tracing } : {}),
  });

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
    jobs,
    files: media,
    runner,
    reclaimer,
    tools,
    close: async () => {
      clearInterval(sweepTimer);
      await sweeping;
      await runner.close();
      await poolInstance?.close({ cancel: true });
      bucket?.close();
    },
  };
}

/** A rejection handler that lets one expected code pass (the thing is gone or done already). */
function ignoreCode(code: ErrorCode): (err: unknown) => void {
  return (err) => {
    if (!(err instanceof TremoloError) || err.code !== code) throw err;
  };
}
