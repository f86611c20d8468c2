/**
 * JobRunner: the part of each process that turns queued media jobs into published videos.
 *
 * It claims jobs from storage (so with several processes on one Redis each job runs in
 * exactly one of them at a time), keeps each claimed job's lease alive while it works,
 * and runs probe -> transcode -> tag on the MediaPool. Storage is the only thing it shares
 * with the rest of the system: the HTTP side creates job records and sets
 * `cancelRequested`; the runner notices on its heartbeat.
 *
 * - A lease it fails to renew means another process may own the job now: it stops at once
 *   and touches neither the record nor the files.
 * - A job whose lease lapsed (its process died) is claimed again by whoever polls next;
 *   storage counts attempts and fails the job after JOB_MAX_ATTEMPTS.
 * - The runner never holds more jobs than the pool has slots (threads + queue), so a task
 *   it submits is never refused; should the pool still be full (another user of the
 *   pool), it waits Retry-After and submits again. Nothing claimed is dropped.
 * - Tagging is best effort: a video whose tagging failed is published untagged and the
 *   failure is recorded on the job's `error`.
 * - Tracing: each attempt is a `media.job` span continuing the trace stored in the job record
 *   (its creation context: parent and link, as the messaging conventions do for a single
 *   message), so a job taken over by another process stays one trace; under it `media.probe`,
 *   `media.transcode`, `media.tag` (with the spans their worker threads timed) and `media.publish`.
 */
import { join } from 'node:path';
import type { EventSink } from '../actors/events.ts';
import type { Clock, TimerHandle } from '../domain/clock.ts';
import type { MediaMetrics, MediaStage, StageOutcome } from '../metrics.ts';
import { TremoloError, toTremoloError } from '../protocol/errors.ts';
import type { MediaRefs, PixelPoint, TagInfo } from '../protocol/model.ts';
import type { JobPatch, JobRecord, JobStage, JobStore } from '../storage/jobs.ts';
import type { MediaStaging, MediaStore } from '../storage/media/media-store.ts';
import type { UploadStore } from '../storage/uploads.ts';
import { noopTracing, type Attributes, type SpanHandle, type TraceContext, type Tracing } from '../telemetry/tracing.ts';
import type { MediaPool, RunOptions, TaskInput, TaskName, TaskOutput } from './pool.ts';
import type { TaggerOptions } from './tasks/tag/types.ts';

/** What the runner needs to publish a finished job (the Engine and the Store provide it). */
export interface Publisher {
  createVideo(ownerId: string, input: { title: string; description: string; media: MediaRefs }, trace?: TraceContext): Promise<{ id: string }>;
  setTagging(videoId: string, tagging: TagInfo): Promise<void>;
  /** Takes back a video whose upload was removed while it was being published. */
  deleteVideo(videoId: string, ownerId: string): Promise<void>;
}

export interface JobRunnerSettings {
  /** Lease holder name: unique per process (`<nodeId>-<pid>`). */
  owner: string;
  leaseMs: number;
  maxAttempts: number;
  /** Longest one attempt may run (JOB_TIMEOUT). */
  timeoutMs: number;
  /** Jobs run at once by this process: the pool's threads + queue. */
  capacity: number;
  /** How often storage is asked for work when nobody pokes the runner. Default 1 s. */
  pollMs?: number;
  maxDurationS: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  tagger: TaggerOptions;
}

export interface JobRunnerDeps {
  jobs: JobStore;
  /** Where a published video is recorded on its upload, which keeps the upload's quota reserved. */
  uploads: UploadStore;
  pool: Pick<MediaPool, 'run'>;
  publisher: Publisher;
  sink: EventSink;
  media: MediaStore;
  /**
   * A local file with an upload's bytes for the tools: the upload itself on local files, a
   * temporary copy fetched from the bucket otherwise; `release` removes a copy.
   */
  sourceFile: (uploadId: string) => Promise<{ path: string; release(): Promise<void> }>;
  /** Lease times, and every timer: the poll, heartbeats, attempt timeouts, Retry-After waits. */
  clock: Clock;
  onError: (err: unknown, context: string) => void;
  settings: JobRunnerSettings;
  /** Jobs running by stage, stage durations and outcomes, finished jobs, tagging model times. */
  metrics?: Pick<MediaMetrics, 'jobsRunning' | 'stageSeconds' | 'jobsFinished' | 'taggingModelSeconds'>;
  /** Spans of each attempt and its stages. Default: off. */
  tracing?: Tracing;
}

/** Why a running job is being stopped. `lost`/`shutdown` leave the record alone (a shutdown then releases the lease). */
type StopCause = 'cancelled' | 'timeout' | 'lost' | 'shutdown';

interface Running {
  job: JobRecord;
  stop: (cause: StopCause) => void;
  done: Promise<void>;
}

/** Storage writes of progress are at most this frequent per job (live events are not throttled). */
const PERSIST_EVERY_MS = 1000;

export class JobRunner {
  readonly #deps: JobRunnerDeps;
  readonly #s: Required<Pick<JobRunnerSettings, 'pollMs'>> & JobRunnerSettings;
  readonly #running = new Map<string, Running>();
  readonly #tracing: Tracing;
  #timer: TimerHandle | undefined;
  #claiming: Promise<void> | undefined;
  #again = false;
  #closing = false;
  /** Mean run time of finished jobs, for Retry-After. */
  #meanJobMs = 0;

  constructor(deps: JobRunnerDeps) {
    const s = deps.settings;
    if (!Number.isInteger(s.capacity) || s.capacity < 1) throw new RangeError('capacity must be an integer >= 1');
    if (s.leaseMs < 100) throw new RangeError('leaseMs must be >= 100');
    this.#deps = deps;
    this.#tracing = deps.tracing ?? noopTracing;
    this.#s = { ...s, pollMs: s.pollMs ?? 1000 };
  }

  /** Starts polling storage for work. */
  start(): void {
    if (this.#timer || this.#closing) return;
    this.#timer = this.#deps.clock.setInterval(() => this.poke(), this.#s.pollMs);
    this.#timer.unref?.();
    this.poke();
  }

  /** Looks for work now (a job was just created). */
  poke(): void {
    if (this.#closing) return;
    if (this.#claiming) {
      this.#again = true;
      return;
    }
    // Outside the caller's trace (an upload request pokes us): each job continues its own.
    this.#claiming = this.#tracing
      .outside(() => this.#claimLoop())
      .catch((err: unknown) => this.#deps.onError(err, 'job claim'))
      .finally(() => {
        this.#claiming = undefined;
        if (this.#again) {
          this.#again = false;
          this.poke();
        }
      });
  }

  /** Jobs running in this process now. */
  get active(): number {
    return this.#running.size;
  }

  /** True when this process has no room for another job: new jobs get E_QUEUE_FULL. */
  get saturated(): boolean {
    return this.#closing || this.#running.size >= this.#s.capacity;
  }

  /** Seconds until a slot is likely free. */
  retryAfterS(): number {
    if (this.#meanJobMs === 0) return 5;
    return Math.min(600, Math.max(1, Math.ceil(this.#meanJobMs / 1000)));
  }

  /** Refuses new work with E_QUEUE_FULL (and a Retry-After) while the process is saturated. */
  admit(): void {
    if (this.#closing) throw new TremoloError('E_SHUTTING_DOWN');
    if (this.saturated) throw new TremoloError('E_QUEUE_FULL', undefined, { retryAfter: this.retryAfterS() });
  }

  /**
   * Stops claiming and stops the running jobs (their ffmpeg is killed, partial output
   * removed), then gives their leases up: another process (or this one after a restart)
   * claims them at once instead of waiting out JOB_LEASE, and the interrupted attempt is not
   * counted. If storage cannot be reached the leases simply lapse, as after a crash.
   */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#timer) this.#deps.clock.clearInterval(this.#timer);
    await this.#claiming;
    const running = [...this.#running.values()];
    for (const r of running) r.stop('shutdown');
    await Promise.all(running.map((r) => r.done));
    await Promise.all(
      running.map((r) =>
        this.#deps.jobs.release(r.job.id, this.#s.owner).catch((err: unknown) => this.#deps.onError(err, `job ${r.job.id} lease release`)),
      ),
    );
  }

  async #claimLoop(): Promise<void> {
    const { jobs, clock } = this.#deps;
    while (!this.#closing && this.#running.size < this.#s.capacity) {
      const job = await jobs.claim(this.#s.owner, { now: clock.now(), leaseMs: this.#s.leaseMs, maxAttempts: this.#s.maxAttempts });
      if (!job) return;
      // Our own lease lapsed (a stalled heartbeat) and we claimed the job again: the run in
      // progress holds the new lease too (same owner), so it simply carries on.
      if (this.#running.has(job.id)) continue;
      this.#launch(job);
    }
  }

  #launch(job: JobRecord): void {
    const ctl = new AbortController();
    let cause: StopCause | undefined;
    const stop = (c: StopCause): void => {
      if (cause) return;
      cause = c;
      // The pool reads 'timeout' as E_JOB_TIMEOUT and anything else as a cancellation.
      ctl.abort(c === 'timeout' ? 'timeout' : 'cancelled');
    };
    const entry: Running = { job, stop, done: Promise.resolve() };
    this.#running.set(job.id, entry);
    const started = performance.now();
    entry.done = this.#run(job, ctl.signal, stop, () => cause)
      .catch((err: unknown) => this.#deps.onError(err, `job ${job.id}`))
      .finally(() => {
        this.#running.delete(job.id);
        const ms = performance.now() - started;
        this.#meanJobMs = this.#meanJobMs === 0 ? ms : this.#meanJobMs * 0.8 + ms * 0.2;
        this.poke();
      });
  }

  /** One attempt at a job, as a `media.job` span in the trace its record carries. */
  async #run(job: JobRecord, signal: AbortSignal, stop: (c: StopCause) => void, causeOf: () => StopCause | undefined): Promise<void> {
    const tracing = this.#tracing;
    if (!tracing.enabled) return this.#attempt(job, signal, stop, causeOf, undefined);
    const created = tracing.extract(job.traceparent, job.tracestate);
    const span = tracing.start('media.job', {
      kind: 'consumer',
      // no stored context (a job made with tracing off): a trace of its own, sampled by the media.job* rule
      parent: created ?? 'root',
      ...(created ? { links: [created] } : {}),
      attributes: { 'tremolo.job.id': job.id, 'tremolo.job.attempt': job.attempts },
    });
    try {
      await tracing.run(span.context, () => this.#attempt(job, signal, stop, causeOf, span));
      const cause = causeOf();
      if (cause === 'lost' || cause === 'shutdown') span.set({ 'tremolo.job.outcome': 'interrupted', 'tremolo.job.stop': cause });
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * A span under the attempt's around one stage; `fn` runs in it. The parent is given, not
   * taken from the active context: a stage begins after the attempt's first await.
   */
  async #stage<T>(attempt: SpanHandle | undefined, name: string, attributes: Attributes, fn: (span: SpanHandle) => Promise<T>): Promise<T> {
    const tracing = this.#tracing;
    if (!tracing.enabled) return fn(NO_SPAN);
    const span = tracing.start(name, { attributes, parent: attempt?.context });
    try {
      return await tracing.run(span.context, () => fn(span));
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  async #attempt(
    job: JobRecord,
    signal: AbortSignal,
    stop: (c: StopCause) => void,
    causeOf: () => StopCause | undefined,
    jobSpan: SpanHandle | undefined,
  ): Promise<void> {
    const { jobs, clock, media } = this.#deps;
    const settings = this.#s;
    const owner = settings.owner;
    if (job.cancelRequested) {
      await this.#finish(job, { stage: 'cancelled', percent: job.percent }, jobSpan);
      return;
    }

    const timeout = clock.setTimeout(() => stop('timeout'), settings.timeoutMs);
    const beatMs = Math.max(50, Math.min(1000, Math.floor(settings.leaseMs / 3)));
    let beating = false;
    // Lease renewals stay out of the job's trace: a span each beat would say nothing.
    const heartbeat = this.#tracing.outside(() => clock.setInterval(() => {
      if (beating) return;
      beating = true;
      void (async () => {
        try {
          if (!(await jobs.renew(job.id, owner, { now: clock.now(), leaseMs: settings.leaseMs }))) return stop('lost');
          const now = await jobs.get(job.id);
          if (!now) stop('lost');
          else if (now.cancelRequested) stop('cancelled');
        } catch (err) {
          // Storage trouble: keep working; the lease lapses if it does not come back.
          this.#deps.onError(err, `job ${job.id} heartbeat`);
        } finally {
          beating = false;
        }
      })();
    }, beatMs));

    const metrics = this.#deps.metrics;
    /** The stage being timed: it ends when the next one begins, or with the job. */
    let timing: { stage: MediaStage; started: number } | undefined;
    const endStage = (outcome: StageOutcome): void => {
      if (!timing) return;
      metrics?.jobsRunning.dec({ stage: timing.stage });
      metrics?.stageSeconds.observe({ stage: timing.stage, outcome }, (performance.now() - timing.started) / 1000);
      timing = undefined;
    };

    let current: JobRecord = job;
    let lastPersist = 0;
    /** Moves to a stage (persisted) and tells the owner. False when the lease is gone. */
    const enter = async (stage: MediaStage, percent = 0): Promise<void> => {
      endStage('ok');
      const updated = await jobs.update(job.id, { stage, percent }, { now: clock.now(), owner });
      if (!updated) {
        stop('lost');
        throw new TremoloError('E_JOB_CANCELLED');
      }
      timing = { stage, started: performance.now() };
      metrics?.jobsRunning.inc({ stage });
      current = updated;
      lastPersist = clock.now();
      this.#emit(current, stage, percent);
    };
    const progress = (stage: JobStage) => (p: { percent: number }): void => {
      this.#emit(current, stage, p.percent);
      if (clock.now() - lastPersist < PERSIST_EVERY_MS) return;
      lastPersist = clock.now();
      jobs.update(job.id, { percent: p.percent }, { now: clock.now(), owner }).catch((err: unknown) => this.#deps.onError(err, `job ${job.id} progress`));
    };

    let fetched: { path: string; release(): Promise<void> } | undefined;
    let staging: MediaStaging | undefined;
    try {
      await enter('probing');
      fetched = await this.#deps.sourceFile(job.uploadId);
      const source = fetched.path;
      staging = await media.stage(job.id);
      const outDir = staging.dir;
      const probe = await this.#stage(jobSpan, 'media.probe', {}, async (span) => {
        const p = await this.#task('probe', { file: source, maxDurationS: settings.maxDurationS, ...bins(settings) }, { signal, trace: span.context });
        span.set({
          'tremolo.media.container': p.container,
          'tremolo.media.duration_s': p.durationS,
          'tremolo.media.width': p.width,
          'tremolo.media.height': p.height,
          'tremolo.media.audio': p.audioCodec !== undefined,
        });
        return p;
      });

      const manifest = await this.#stage(jobSpan, 'media.transcode', {}, async (span) => {
        await enter('transcoding');
        const m = await this.#task(
          'transcode',
          { input: source, outDir, probe, maxDurationS: settings.maxDurationS, ...bins(settings) },
          { signal, onProgress: progress('transcoding'), trace: span.context },
        );
        span.set({ 'tremolo.media.renditions': m.hls.variants.length, 'tremolo.media.keyframes': m.keyframes.length });
        return m;
      });

      let tagging: TagInfo | undefined;
      let tagError: { code: string; message: string } | undefined;
      try {
        const result = await this.#stage(jobSpan, 'media.tag', {}, async (span) => {
          await enter('tagging');
          const r = await this.#task(
            'tag',
            {
              keyframes: manifest.keyframes.map((k) => join(manifest.dir, k)),
              // Our own output, not the upload: only the probe and the transcode open untrusted bytes.
              videoPath: join(manifest.dir, manifest.audio ?? manifest.mp4),
              options: { ...settings.tagger, ...(settings.ffmpegPath ? { ffmpegPath: settings.ffmpegPath } : {}) },
            },
            { signal, onProgress: progress('tagging'), trace: span.context },
          );
          span.set({ 'tremolo.tag.tags': r.tags.length, 'tremolo.tag.device': r.device });
          return r;
        });
        for (const [model, seconds] of Object.entries(result.modelSeconds)) metrics?.taggingModelSeconds.observe({ model }, seconds);
        // Boxes and speech segments are kept (the engine caps their number): clients place
        // captions and skip to speech with them.
        tagging = {
          tags: result.tags,
          ocr: result.ocr.map((l) => ({
            text: l.text,
            confidence: Math.round(l.confidence * 1000) / 1000,
            box: [pixel(l.box[0]), pixel(l.box[1]), pixel(l.box[2]), pixel(l.box[3])],
          })),
          ...(result.frame ? { frame: result.frame } : {}),
          speechRatio: result.speech.ratio,
          speechSegments: result.speech.segments,
        };
      } catch (err) {
        if (signal.aborted) throw err;
        const e = toTremoloError(err);
        this.#deps.onError(err, `job ${job.id} tagging`);
        tagError = { code: e.code === 'E_INTERNAL' ? 'E_TAGGING_FAILED' : e.code, message: e.message };
      }
      if (signal.aborted) throw new TremoloError(causeOf() === 'timeout' ? 'E_JOB_TIMEOUT' : 'E_JOB_CANCELLED');
      // Tagging is best effort: a failed run still publishes the video.
      endStage(tagError ? 'failed' : 'ok');
      // the media goes where it is served from (a bucket) before any video names it
      await staging.commit();

      // Past this point the video exists: no more cancelling, only finishing (or taking it back
      // when its upload is gone).
      const rel = (p: string): string => `${job.id}/${p}`;
      await this.#stage(jobSpan, 'media.publish', { 'tremolo.job.republish': current.videoId !== undefined }, async (span) => {
        const videoId =
          current.videoId ??
          (
            await this.#deps.publisher.createVideo(job.ownerId, {
              title: job.title,
              description: job.description,
              media: { hls: rel(manifest.hls.master), mp4: rel(manifest.mp4), poster: rel(manifest.poster) },
            }, span.context)
          ).id;
        span.set({ 'tremolo.video.id': videoId });
        await this.#tracing.run(span.context, () => jobs.update(job.id, { videoId }, { now: clock.now(), owner }));
        if (!(await this.#deps.uploads.addVideo(job.ownerId, job.uploadId, videoId))) {
          // The upload was removed (its quota released) while we published: nothing may show
          // media that no reservation pays for.
          await this.#deps.publisher.deleteVideo(videoId, job.ownerId);
          stop('cancelled');
          throw new TremoloError('E_JOB_CANCELLED');
        }
        if (tagging) await this.#deps.publisher.setTagging(videoId, tagging);
        await this.#finish(current, { stage: 'ready', percent: 100, videoId, ...(tagError ? { error: tagError } : {}) }, jobSpan);
      });
    } catch (err) {
      const cause = causeOf();
      endStage(cause === 'lost' || cause === 'shutdown' ? 'interrupted' : cause ?? 'failed');
      if (cause === 'lost' || cause === 'shutdown') {
        // Not ours any more (or we are stopping): leave record and files to the next holder,
        // unless the job was cancelled while queued and we raced that.
        if (cause === 'lost' && (await jobs.get(job.id).catch(() => null))?.stage === 'cancelled') await media.remove(job.id);
        return;
      }
      await media.remove(job.id).catch((e: unknown) => this.#deps.onError(e, `job ${job.id} cleanup`));
      if (cause === 'cancelled') {
        await this.#finish(current, { stage: 'cancelled' }, jobSpan);
      } else {
        const e = cause === 'timeout' ? new TremoloError('E_JOB_TIMEOUT') : toTremoloError(err);
        if (e.code === 'E_INTERNAL') this.#deps.onError(err, `job ${job.id}`);
        await this.#finish(current, { stage: 'failed', error: { code: e.code, message: e.message } }, jobSpan);
      }
    } finally {
      endStage('failed'); // only if something escaped the paths above: the gauge must not leak
      clock.clearTimeout(timeout);
      clock.clearInterval(heartbeat);
      await staging?.discard().catch((e: unknown) => this.#deps.onError(e, `job ${job.id} local files`));
      await fetched?.release().catch((e: unknown) => this.#deps.onError(e, `job ${job.id} source copy`));
    }
  }

  /** Runs a pool task; a full pool is waited out (Retry-After), never a reason to drop the job. */
  async #task<K extends TaskName>(task: K, input: TaskInput<K>, opts: RunOptions & { signal: AbortSignal }): Promise<TaskOutput<K>> {
    for (;;) {
      try {
        return await this.#deps.pool.run(task, input, opts);
      } catch (err) {
        if (!(err instanceof TremoloError) || err.code !== 'E_QUEUE_FULL' || opts.signal.aborted) throw err;
        await sleep(this.#deps.clock, (err.retryAfter ?? 1) * 1000, opts.signal);
      }
    }
  }

  /** Writes a final stage (only while holding the lease) and tells the owner. */
  async #finish(job: JobRecord, patch: JobPatch & { stage: JobStage }, span?: SpanHandle): Promise<void> {
    const { jobs, clock } = this.#deps;
    const updated = await jobs.update(job.id, patch, { now: clock.now(), owner: this.#s.owner });
    if (!updated) return;
    span?.set({ 'tremolo.job.outcome': patch.stage, 'tremolo.job.error': patch.error?.code });
    if (patch.stage === 'failed' && patch.error) span?.fail(patch.error);
    this.#deps.metrics?.jobsFinished.inc({ outcome: patch.stage });
    this.#emit(updated, patch.stage, updated.percent);
  }

  #emit(job: JobRecord, stage: JobStage, percent: number): void {
    if (this.#closing) return; // the transport is going away; the record says where the job stands
    this.#deps.sink.publish({
      type: 'job:progress',
      userId: job.ownerId,
      jobId: job.id,
      stage,
      percent: Math.round(percent),
      ...(job.videoId ? { videoId: job.videoId } : {}),
      ...(job.error ? { error: job.error } : {}),
    });
  }
}

/** What `#stage` hands `fn` with tracing off. */
const NO_SPAN: SpanHandle = noopTracing.start('');

function bins(s: JobRunnerSettings): { ffmpegPath?: string; ffprobePath?: string } {
  return { ...(s.ffmpegPath ? { ffmpegPath: s.ffmpegPath } : {}), ...(s.ffprobePath ? { ffprobePath: s.ffprobePath } : {}) };
}

/** Waits `ms` on the clock, or until `signal` aborts. */
function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = clock.setTimeout(done, ms);
    function done(): void {
      clock.clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** OCR corners to whole pixels (sub-pixel precision means nothing to a client placing a caption). */
function pixel([x, y]: readonly [number, number]): PixelPoint {
  return [Math.round(x), Math.round(y)];
}
