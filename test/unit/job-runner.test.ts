/**
 * JobRunner over the memory store's jobs, real media files in a temporary directory and a
 * stand-in MediaPool (the runner's `Pick<MediaPool, 'run'>` seam) whose tasks the test answers.
 *
 * The runner takes a Clock for lease times and for every timer it sets (poll, heartbeat,
 * attempt timeout, Retry-After wait): a ManualClock here, so a lease lapses, a heartbeat beats
 * or an attempt times out only when the test moves the clock. Waits for the runner's own
 * asynchronous work are bounded polls (`eventually`), never sleeps.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { RecordingSink, type EngineEvent } from '../../src/actors/events.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { MediaRefs, TagInfo } from '../../src/protocol/model.ts';
import type { JobRecord, JobStore } from '../../src/storage/jobs.ts';
import { FileMediaStore } from '../../src/storage/media/media-store.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { JobRunner, type JobRunnerSettings } from '../../src/workers/job-runner.ts';
import type { MediaPool, RunOptions, TaskInput, TaskName, TaskOutput } from '../../src/workers/pool.ts';
import type { TranscodeManifest } from '../../src/workers/tasks/transcode.ts';
import type { TagResult } from '../../src/workers/tasks/tag/types.ts';
import { eventually } from '../helpers/eventually.ts';

const LEASE_MS = 300;
/** The runner's heartbeat period for that lease (a third of it). */
const BEAT_MS = LEASE_MS / 3;
const root = mkdtempSync(join(tmpdir(), 'tremolo-job-runner-'));
after(() => rmSync(root, { recursive: true, force: true }));
/** Every runner a test made; closed after it, passed or failed (their heartbeats hold the process). */
const runners: JobRunner[] = [];
afterEach(() => Promise.all(runners.splice(0).map((r) => r.close())));

/** One `run` call the test answers by hand (or `auto` answers). */
interface TaskCall {
  task: TaskName;
  input: unknown;
  opts: RunOptions;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Stands in for the pool's contract: a task runs until answered, and aborting its signal
 * rejects it with E_JOB_TIMEOUT (reason 'timeout') or E_JOB_CANCELLED, as MediaPool does.
 */
class TaskBench implements Pick<MediaPool, 'run'> {
  readonly calls: TaskCall[] = [];
  /** Answers calls as they arrive; undefined leaves them to the test. */
  auto: ((call: TaskCall) => void) | undefined;

  run<K extends TaskName>(task: K, input: TaskInput<K>, opts: RunOptions = {}): Promise<TaskOutput<K>> {
    return new Promise<TaskOutput<K>>((resolve, reject) => {
      const call: TaskCall = { task, input, opts, resolve: (v) => resolve(v as TaskOutput<K>), reject };
      const { signal } = opts;
      const stop = (): void => reject(new TremoloError(signal?.reason === 'timeout' ? 'E_JOB_TIMEOUT' : 'E_JOB_CANCELLED'));
      if (signal?.aborted) return stop();
      signal?.addEventListener('abort', stop, { once: true });
      this.calls.push(call);
      this.auto?.(call);
    });
  }

  of(task: TaskName): TaskCall[] {
    return this.calls.filter((c) => c.task === task);
  }

  /** Waits for the n-th (1-based) call of a task. */
  async nth(task: TaskName, n = 1): Promise<TaskCall> {
    await eventually(() => this.of(task).length >= n, `${task} call #${n}`);
    return this.of(task)[n - 1]!;
  }
}

/** What a finished transcode returns; it also writes a file so cleanup can be checked. */
async function transcoded(call: TaskCall): Promise<TranscodeManifest> {
  const { outDir } = call.input as TaskInput<'transcode'>;
  await mkdir(outDir, { recursive: true });
  writeFileSync(join(outDir, 'video.mp4'), 'not really a video');
  return {
    dir: outDir,
    hls: { master: 'master.m3u8', variants: [{ height: 480, width: 854, playlist: '480p/index.m3u8', bandwidth: 1_000_000 }] },
    mp4: 'video.mp4',
    poster: 'poster.jpg',
    keyframes: ['kf-000.jpg', 'kf-001.jpg'],
    probe: PROBE,
  };
}

const PROBE: TaskOutput<'probe'> = { durationS: 5, width: 1280, height: 720, fps: 30, videoCodec: 'h264', audioCodec: 'aac', bitrate: 1_000_000, rotation: 0, container: 'mov' };
const TAGS: TagResult = {
  tags: ['cat'],
  ocr: [{ text: 'HELLO', confidence: 0.98765, box: [[0, 0], [1, 0], [1, 1], [0, 1]] }],
  speech: { ratio: 0.5, segments: [] },
  device: 'cpu',
  modelSeconds: {},
};

/** Answers every task successfully, in the pipeline's order. */
function succeed(call: TaskCall): void {
  if (call.task === 'probe') call.resolve(PROBE);
  else if (call.task === 'transcode') void transcoded(call).then(call.resolve, call.reject);
  else call.resolve(TAGS);
}

let seq = 0;

/** A shared store and media directory, with runners (processes) added by `runner()`. */
function world() {
  const store = new MemoryStore({ eventLogMax: 100, viewDedupS: 60 });
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const media = new FileMediaStore({ root: join(root, `media-${++seq}`) });
  const sink = new RecordingSink();
  const published: { ownerId: string; title: string; media: MediaRefs }[] = [];
  const tagged: [string, TagInfo][] = [];
  /** Videos taken back because their upload was gone when they were published. */
  const taken: string[] = [];

  const runner = (owner: string, opts: { settings?: Partial<JobRunnerSettings>; jobs?: JobStore } = {}) => {
    const pool = new TaskBench();
    const errors: [unknown, string][] = [];
    const r = new JobRunner({
      jobs: opts.jobs ?? store.jobs,
      pool,
      publisher: {
        createVideo: async (ownerId, input) => {
          published.push({ ownerId, title: input.title, media: input.media });
          return { id: `VID${published.length}` };
        },
        setTagging: async (videoId, tagging) => {
          tagged.push([videoId, tagging]);
        },
        deleteVideo: async (videoId) => {
          taken.push(videoId);
        },
      },
      uploads: store.uploads,
      sink,
      media,
      sourceFile: async (id) => ({ path: join(root, 'uploads', id), release: async () => {} }),
      clock,
      onError: (err, context) => errors.push([err, context]),
      settings: {
        owner,
        leaseMs: LEASE_MS,
        maxAttempts: 3,
        timeoutMs: 60_000,
        capacity: 2,
        pollMs: 20,
        maxDurationS: 60,
        tagger: { device: 'cpu', threads: 1 },
        ...opts.settings,
      },
    });
    runners.push(r);
    return { runner: r, pool, errors };
  };

  const job = async (over: Partial<JobRecord> = {}): Promise<JobRecord> => {
    const at = new Date(clock.now()).toISOString();
    const id = `JOB${String(++seq).padStart(10, '0')}`;
    const record: JobRecord = {
      id,
      ownerId: 'OWNER',
      uploadId: `up-${id}`,
      title: `title of ${id}`,
      description: '',
      stage: 'queued',
      percent: 0,
      attempts: 0,
      createdAt: at,
      updatedAt: at,
      ...over,
    };
    // as POST /v1/uploads does: the upload holds its quota, so its video can be recorded on it
    await store.uploads.reserve(record.ownerId, record.uploadId, 1, Number.MAX_SAFE_INTEGER);
    await store.jobs.create(record);
    return record;
  };

  const get = async (id: string): Promise<JobRecord> => (await store.jobs.get(id))!;
  const stageIs = (id: string, stage: JobRecord['stage']) => eventually(async () => (await get(id)).stage === stage, `job ${id} ${stage}`);
  const progress = (jobId: string) =>
    sink.events
      .filter((e): e is Extract<EngineEvent, { type: 'job:progress' }> => e.type === 'job:progress' && e.jobId === jobId)
      .map((e) => [e.stage, e.percent]);
  return { store, clock, media, sink, published, tagged, taken, runner, job, get, stageIs, progress };
}

/** A JobStore whose renew can be made to fail, as a storage outage would for one process. */
function flakyRenew(jobs: JobStore) {
  const state = { failing: false };
  const wrapped: JobStore = Object.assign(Object.create(jobs) as JobStore, {
    renew: (id: string, owner: string, opts: { now: number; leaseMs: number }) =>
      state.failing ? Promise.reject(new TremoloError('E_STORAGE_UNAVAILABLE')) : jobs.renew(id, owner, opts),
  });
  return { jobs: wrapped, state };
}

/** A JobStore that records what every claim returned (and, with `onClaim`, calls it first). */
function spyClaims(jobs: JobStore, onClaim?: () => void) {
  const results: (JobRecord | null)[] = [];
  const wrapped: JobStore = Object.assign(Object.create(jobs) as JobStore, {
    claim: async (owner: string, opts: { now: number; leaseMs: number; maxAttempts: number }) => {
      onClaim?.();
      const got = await jobs.claim(owner, opts);
      results.push(got);
      return got;
    },
  });
  return { jobs: wrapped, results };
}

describe('JobRunner', () => {
  it('runs probe -> transcode -> tag, publishes the video with its tagging, and reports every stage', async () => {
    const w = world();
    const a = w.runner('node-a');
    const j = await w.job();
    a.runner.poke();

    const probe = await a.pool.nth('probe');
    assert.deepEqual(probe.input, { file: join(root, 'uploads', j.uploadId), maxDurationS: 60 });
    const claimed = await w.get(j.id);
    assert.equal(claimed.leaseOwner, 'node-a');
    assert.equal(claimed.leaseUntil, w.clock.now() + LEASE_MS);
    assert.equal(claimed.attempts, 1);
    assert.equal(claimed.stage, 'probing');
    probe.resolve(PROBE);

    const transcode = await a.pool.nth('transcode');
    assert.equal((transcode.input as TaskInput<'transcode'>).outDir, w.media.dirFor(j.id));
    // progress goes out live every time, but is written to storage at most once a second
    transcode.opts.onProgress!({ percent: 30, stage: 'transcode' });
    assert.equal((await w.get(j.id)).percent, 0);
    w.clock.advance(1000);
    transcode.opts.onProgress!({ percent: 60, stage: 'transcode' });
    await eventually(async () => (await w.get(j.id)).percent === 60, 'progress persisted');
    void transcoded(transcode).then(transcode.resolve);

    const tag = await a.pool.nth('tag');
    assert.deepEqual((tag.input as TaskInput<'tag'>).keyframes, [join(w.media.dirFor(j.id), 'kf-000.jpg'), join(w.media.dirFor(j.id), 'kf-001.jpg')]);
    tag.resolve(TAGS);

    await w.stageIs(j.id, 'ready');
    const done = await w.get(j.id);
    assert.equal(done.percent, 100);
    assert.equal(done.videoId, 'VID1');
    assert.equal(done.leaseOwner, undefined, 'a finished job holds no lease');
    assert.equal(done.error, undefined);
    assert.deepEqual(w.published, [{ ownerId: 'OWNER', title: j.title, media: { hls: `${j.id}/master.m3u8`, mp4: `${j.id}/video.mp4`, poster: `${j.id}/poster.jpg` } }]);
    assert.deepEqual(w.tagged, [
      ['VID1', { tags: ['cat'], ocr: [{ text: 'HELLO', confidence: 0.988, box: [[0, 0], [1, 0], [1, 1], [0, 1]] }], speechRatio: 0.5, speechSegments: [] }],
    ]);
    assert.deepEqual(w.progress(j.id), [
      ['probing', 0],
      ['transcoding', 0],
      ['transcoding', 30],
      ['transcoding', 60],
      ['tagging', 0],
      ['ready', 100],
    ]);
    assert.equal(a.runner.active, 0);
    assert.deepEqual(a.errors, []);
  });

  it('a job runs in one process: a second runner cannot claim it while the lease is renewed', async () => {
    const w = world();
    const a = w.runner('node-a');
    const spy = spyClaims(w.store.jobs);
    const claims = spy.results;
    const b = w.runner('node-b', { jobs: spy.jobs });
    const j = await w.job();
    a.runner.poke();
    await a.pool.nth('probe');

    // time passes far beyond the lease: each of A's heartbeats renews it from the current time
    for (let i = 0; i < 6; i++) {
      w.clock.advance(BEAT_MS);
      await eventually(async () => (await w.get(j.id)).leaseUntil === w.clock.now() + LEASE_MS, 'lease renewed');
    }
    b.runner.poke();
    await eventually(() => claims.length > 0, 'B asked for work');
    assert.deepEqual(claims, [null], 'B found nothing to claim');
    assert.equal(b.pool.calls.length, 0);
    assert.equal((await w.get(j.id)).leaseOwner, 'node-a');
    assert.equal((await w.get(j.id)).attempts, 1);
  });

  it('holds at most `capacity` jobs; the next is claimed when one finishes, and admit() refuses while saturated', async () => {
    const w = world();
    const activeAtClaim: number[] = [];
    // `a` is read when the runner claims, after it exists
    const spy = spyClaims(w.store.jobs, () => activeAtClaim.push(a.runner.active));
    const a = w.runner('node-a', { jobs: spy.jobs, settings: { capacity: 2 } });
    const jobs = [await w.job(), await w.job(), await w.job()];
    a.runner.poke();
    await a.pool.nth('probe', 2);
    assert.equal(a.runner.active, 2);
    assert.equal(a.runner.saturated, true);
    assert.throws(
      () => a.runner.admit(),
      (e: unknown) => e instanceof TremoloError && e.code === 'E_QUEUE_FULL' && e.retryAfter !== undefined && e.retryAfter >= 1,
    );
    a.runner.poke();

    // the first job fails its probe: its slot goes to the third job
    a.pool.of('probe')[0]!.reject(new TremoloError('E_MEDIA_INVALID'));
    const third = await a.pool.nth('probe', 3);
    assert.deepEqual(third.input, { file: join(root, 'uploads', jobs[2]!.uploadId), maxDurationS: 60 });
    assert.equal((await w.get(jobs[0]!.id)).stage, 'failed');
    assert.ok(activeAtClaim.length >= 3);
    assert.ok(activeAtClaim.every((n) => n < 2), `never asks for work while full: ${activeAtClaim.join(',')}`);
  });

  it('a task failure fails the job at once with its code, removes partial output, and is not retried', async () => {
    const w = world();
    const spy = spyClaims(w.store.jobs);
    const a = w.runner('node-a', { jobs: spy.jobs });
    const j = await w.job();
    a.pool.auto = (call) => (call.task === 'transcode' ? void transcoded(call).then(() => call.reject(new TremoloError('E_MEDIA_INVALID'))) : succeed(call));
    a.runner.poke();
    await w.stageIs(j.id, 'failed');
    const failed = await w.get(j.id);
    assert.deepEqual(failed.error, { code: 'E_MEDIA_INVALID', message: new TremoloError('E_MEDIA_INVALID').message });
    assert.equal(failed.attempts, 1);
    assert.equal(failed.leaseOwner, undefined);
    await eventually(() => a.runner.active === 0, 'runner idle');
    assert.equal(existsSync(w.media.dirFor(j.id)), false, 'partial output removed');
    assert.deepEqual(w.progress(j.id).at(-1), ['failed', 0]);
    assert.equal(w.published.length, 0);
    w.clock.advance(LEASE_MS * 10);
    const asked = spy.results.length;
    a.runner.poke();
    await eventually(() => spy.results.length > asked, 'the runner asked for work again');
    assert.ok(spy.results.slice(asked).every((r) => r === null), 'a failed job is final: nothing to claim');
    assert.equal(a.pool.of('probe').length, 1);
  });

  it('tagging is best effort: a failed tag task still publishes the video, untagged, with the error on the job', async () => {
    const w = world();
    const a = w.runner('node-a');
    const j = await w.job();
    a.pool.auto = (call) => (call.task === 'tag' ? call.reject(new Error('onnxruntime blew up')) : succeed(call));
    a.runner.poke();
    await w.stageIs(j.id, 'ready');
    const done = await w.get(j.id);
    assert.equal(done.videoId, 'VID1');
    assert.equal(done.error?.code, 'E_TAGGING_FAILED');
    assert.equal(w.published.length, 1);
    assert.deepEqual(w.tagged, []);
    assert.ok(a.errors.some(([, context]) => context === `job ${j.id} tagging`));
  });

  it('a lapsed lease is claimed again by a polling process (counting an attempt); the old holder stops and touches nothing', async () => {
    const w = world();
    const flaky = flakyRenew(w.store.jobs);
    const a = w.runner('node-a', { jobs: flaky.jobs });
    const b = w.runner('node-b');
    const j = await w.job();
    a.runner.poke();
    const aProbe = await a.pool.nth('probe');
    aProbe.resolve(PROBE);
    const aTranscode = await a.pool.nth('transcode');
    await transcoded(aTranscode); // A has written partial output

    // A loses Redis for a while: its lease runs out and B, polling, takes the job over
    flaky.state.failing = true;
    w.clock.advance(LEASE_MS + 1);
    b.pool.auto = (call) => (call.task === 'probe' ? undefined : succeed(call));
    b.runner.start();
    const bProbe = await b.pool.nth('probe');
    const taken = await w.get(j.id);
    assert.equal(taken.leaseOwner, 'node-b');
    assert.equal(taken.attempts, 2);

    // A's storage comes back: its next renew is refused, so it stops without touching the job
    flaky.state.failing = false;
    w.clock.advance(BEAT_MS);
    await eventually(() => a.runner.active === 0, 'A stopped');
    assert.equal(aTranscode.opts.signal?.aborted, true, 'A\u2019s ffmpeg was told to stop');
    assert.equal(existsSync(join(w.media.dirFor(j.id), 'video.mp4')), true, 'A left the files to the new holder');
    const now = await w.get(j.id);
    assert.equal(now.leaseOwner, 'node-b');
    assert.equal(now.stage, 'probing');
    assert.ok(a.errors.every(([, context]) => context === `job ${j.id} heartbeat`), 'A reported only its failed heartbeats');

    bProbe.resolve(PROBE);
    await w.stageIs(j.id, 'ready');
    assert.equal(w.published.length, 1, 'published once');
    assert.deepEqual(
      w.progress(j.id).filter(([stage]) => stage === 'failed' || stage === 'cancelled'),
      [],
      'nobody reported the job failed or cancelled',
    );
  });

  it('gives up after maxAttempts claims: the job is failed, not run again', async () => {
    const w = world();
    const settings = { maxAttempts: 2 };
    const flakyA = flakyRenew(w.store.jobs);
    const flakyB = flakyRenew(w.store.jobs);
    const a = w.runner('node-a', { jobs: flakyA.jobs, settings });
    const b = w.runner('node-b', { jobs: flakyB.jobs, settings });
    const c = w.runner('node-c', { settings });
    const j = await w.job();

    for (const [r, flaky] of [
      [a, flakyA],
      [b, flakyB],
    ] as const) {
      r.runner.poke();
      await r.pool.nth('probe');
      flaky.state.failing = true; // this process goes silent: its lease lapses
      w.clock.advance(LEASE_MS + 1);
    }
    assert.equal((await w.get(j.id)).attempts, 2);
    c.runner.poke();
    await w.stageIs(j.id, 'failed');
    const failed = await w.get(j.id);
    assert.equal(failed.error?.code, 'E_JOB_TIMEOUT');
    assert.equal(failed.attempts, 2);
    assert.equal(c.pool.calls.length, 0, 'not run a third time');
  });

  it('cancel: a running job stops at the next heartbeat, its output is removed and the owner is told', async () => {
    const w = world();
    const a = w.runner('node-a');
    const j = await w.job();
    a.runner.poke();
    (await a.pool.nth('probe')).resolve(PROBE);
    await transcoded(await a.pool.nth('transcode')); // writing, never finishing
    assert.equal(existsSync(w.media.dirFor(j.id)), true);

    await w.store.jobs.update(j.id, { cancelRequested: true }, { now: w.clock.now() });
    w.clock.advance(BEAT_MS); // the next heartbeat reads the record
    await w.stageIs(j.id, 'cancelled');
    await eventually(() => a.runner.active === 0, 'runner idle');
    assert.equal(a.pool.of('transcode')[0]!.opts.signal?.aborted, true);
    assert.equal(existsSync(w.media.dirFor(j.id)), false);
    const done = await w.get(j.id);
    assert.equal(done.leaseOwner, undefined);
    assert.equal(done.error, undefined);
    assert.deepEqual(w.progress(j.id).at(-1), ['cancelled', 0]);
    assert.equal(a.pool.of('tag').length, 0);
    assert.equal(w.published.length, 0);
  });

  it('cancel: a job cancelled while queued is finished as cancelled without running a task', async () => {
    const w = world();
    const a = w.runner('node-a');
    const j = await w.job({ cancelRequested: true });
    a.runner.poke();
    await w.stageIs(j.id, 'cancelled');
    assert.deepEqual(w.progress(j.id), [['cancelled', 0]]);
    assert.equal(a.pool.calls.length, 0);
  });

  it('timeout: an attempt longer than timeoutMs is stopped and the job fails with E_JOB_TIMEOUT', async () => {
    const w = world();
    const a = w.runner('node-a', { settings: { timeoutMs: 150 } });
    const j = await w.job();
    a.runner.poke();
    const probe = await a.pool.nth('probe'); // never answered
    w.clock.advance(150);
    await w.stageIs(j.id, 'failed');
    assert.equal(probe.opts.signal?.reason, 'timeout');
    const failed = await w.get(j.id);
    assert.equal(failed.error?.code, 'E_JOB_TIMEOUT');
    assert.equal(failed.leaseOwner, undefined);
    assert.deepEqual(w.progress(j.id).at(-1), ['failed', 0]);
  });

  it('a full pool (E_QUEUE_FULL) is waited out for Retry-After and the task submitted again, never dropped', async () => {
    const w = world();
    const a = w.runner('node-a');
    const j = await w.job();
    let refused = 0;
    a.pool.auto = (call) => {
      if (call.task === 'probe' && refused++ === 0) call.reject(new TremoloError('E_QUEUE_FULL', undefined, { retryAfter: 1 }));
      else succeed(call);
    };
    a.runner.poke();
    // the runner waits Retry-After on its clock: move it until the probe is submitted again
    await eventually(() => {
      w.clock.advance(250);
      return a.pool.of('probe').length === 2;
    }, 'the probe submitted again');
    await w.stageIs(j.id, 'ready');
    assert.equal(a.pool.of('probe').length, 2);
    assert.deepEqual(a.errors, []);
  });

  it('close() stops running jobs and gives their leases back: another process claims them at once, the attempt not counted', async () => {
    const w = world();
    const a = w.runner('node-a');
    const b = w.runner('node-b');
    const j = await w.job();
    a.runner.poke();
    const probe = await a.pool.nth('probe');
    const before = w.sink.events.length;
    await a.runner.close();
    assert.equal(probe.opts.signal?.aborted, true);
    const released = await w.get(j.id);
    assert.equal(released.leaseOwner, undefined);
    assert.equal(released.attempts, 0);
    assert.equal(released.stage, 'probing', 'not failed, not cancelled: it will run again');
    assert.equal(w.sink.events.length, before, 'nothing emitted while shutting down');
    assert.throws(() => a.runner.admit(), (e: unknown) => e instanceof TremoloError && e.code === 'E_SHUTTING_DOWN');

    // no clock advance: the lease was given back, not left to lapse
    b.runner.poke();
    await b.pool.nth('probe');
    const taken = await w.get(j.id);
    assert.equal(taken.leaseOwner, 'node-b');
    assert.equal(taken.attempts, 1);
  });
});
