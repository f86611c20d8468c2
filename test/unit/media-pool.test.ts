import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMetrics } from '../../src/metrics.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { mapPoolError, MediaPool } from '../../src/workers/pool.ts';
import type { TaskProgress } from '../../src/workers/task-protocol.ts';
import { makeClip, processesMentioning, removeDir, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { sample } from '../helpers/metrics.ts';

/** Resolves once the task reports real transcoding progress, i.e. ffmpeg is running. */
function firstProgress(): { onProgress: (p: TaskProgress) => void; started: Promise<void> } {
  let resolve!: () => void;
  const started = new Promise<void>((r) => (resolve = r));
  return { onProgress: (p) => p.stage === 'transcode' && p.percent > 2 && resolve(), started };
}

describe('MediaPool', () => {
  let dir: string;
  let clip: string;
  let longClip: string;

  before(async () => {
    dir = await tempDir();
    clip = await makeClip(dir, { seconds: 2 });
    longClip = await makeClip(dir, { seconds: 20 });
  });
  after(() => removeDir(dir));

  it('validates its options', () => {
    assert.throws(() => new MediaPool({ threads: 0, maxQueue: 1 }), RangeError);
    assert.throws(() => new MediaPool({ threads: 1, maxQueue: -1 }), RangeError);
  });

  it('runs probe and transcode in worker threads and relays progress', async () => {
    const pool = new MediaPool({ threads: 2, maxQueue: 4 });
    try {
      const probe = await pool.run('probe', { file: clip });
      assert.equal(probe.height, 720);
      const events: TaskProgress[] = [];
      const out = join(dir, 'pooled');
      const manifest = await pool.run('transcode', { input: clip, outDir: out, probe }, { onProgress: (p) => events.push(p) });
      assert.equal(manifest.dir, out);
      assert.ok(events.length >= 2, 'progress events arrive');
      const percents = events.map((e) => e.percent);
      assert.deepEqual(percents, [...percents].sort((a, b) => a - b), 'progress never goes back');
      assert.equal(percents.at(-1), 100);
      assert.ok(events.some((e) => e.stage === 'transcode'));
      assert.ok(pool.utilization > 0 && pool.utilization <= 1);
    } finally {
      await pool.close();
    }
  });

  it('rejects task errors as TremoloErrors with their code', async () => {
    const pool = new MediaPool({ threads: 1, maxQueue: 1 });
    try {
      await assert.rejects(pool.run('probe', { file: join(dir, 'missing.mp4') }), (e: unknown) => e instanceof TremoloError && e.code === 'E_MEDIA_INVALID');
      await assert.rejects(pool.run('probe', { file: clip, maxDurationS: 1 }), (e: unknown) => e instanceof TremoloError && e.code === 'E_MEDIA_TOO_LONG');
    } finally {
      await pool.close();
    }
  });

  it('refuses work beyond threads + maxQueue with E_QUEUE_FULL and Retry-After, without throwing synchronously', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const gauge = (name: string): Promise<number> => sample(metrics.registry, name);
    const pool = new MediaPool({ threads: 1, maxQueue: 1, metrics: metrics.media });
    const stop = new AbortController();
    try {
      const { onProgress, started } = firstProgress();
      const running = pool.run('transcode', { input: longClip, outDir: join(dir, 'q1') }, { signal: stop.signal, onProgress });
      const queued = pool.run('probe', { file: clip }, { signal: stop.signal });
      await started;
      assert.equal(pool.queueSize, 1);
      assert.equal(await gauge('tremolo_media_pool_queue_depth'), 1, 'the queue depth is exposed');
      assert.equal(await gauge('tremolo_media_pool_running_tasks'), 1);
      let third: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        third = pool.run('probe', { file: clip });
      });
      await assert.rejects(third!, (e: unknown) => {
        assert.ok(e instanceof TremoloError);
        assert.equal(e.code, 'E_QUEUE_FULL');
        assert.equal(e.status, 429);
        assert.ok(typeof e.retryAfter === 'number' && e.retryAfter >= 1);
        return true;
      });
      stop.abort();
      const [r, q] = await Promise.allSettled([running, queued]);
      for (const s of [r, q]) {
        assert.equal(s.status, 'rejected');
        assert.ok(s.reason instanceof TremoloError && s.reason.code === 'E_JOB_CANCELLED');
      }
      // the pool keeps working afterwards
      assert.equal((await pool.run('probe', { file: clip })).width, 1280);
      assert.equal(await gauge('tremolo_media_pool_queue_depth'), 0);
      assert.equal(await gauge('tremolo_media_pool_running_tasks'), 0);
    } finally {
      await pool.close();
    }
  });

  it('maps piscina\'s plain queue-limit error to E_QUEUE_FULL', () => {
    const e = mapPoolError(new Error('Task queue is at limit'), () => 7);
    assert.equal(e.code, 'E_QUEUE_FULL');
    assert.equal(e.retryAfter, 7);
    assert.equal(mapPoolError(new Error('boom'), () => 1).code, 'E_INTERNAL');
  });

  it('cancels a running transcode: ffmpeg is killed and no partial output is left', async () => {
    const pool = new MediaPool({ threads: 1, maxQueue: 1 });
    const parent = await tempDir('tremolo-cancel-');
    const outDir = join(parent, 'video');
    try {
      const stop = new AbortController();
      const { onProgress, started } = firstProgress();
      const task = pool.run('transcode', { input: longClip, outDir }, { signal: stop.signal, onProgress });
      await started;
      assert.ok((await processesMentioning(parent)).length > 0, 'ffmpeg runs while transcoding');
      stop.abort();
      await assert.rejects(task, (e: unknown) => e instanceof TremoloError && e.code === 'E_JOB_CANCELLED');
      assert.deepEqual(await processesMentioning(parent), [], 'ffmpeg is gone');
      assert.deepEqual(await readdir(parent), [], 'no output or staging directory is left');
    } finally {
      await pool.close();
      await removeDir(parent);
    }
  });

  it('reports a timed-out signal as E_JOB_TIMEOUT', async () => {
    const pool = new MediaPool({ threads: 1, maxQueue: 1 });
    const parent = await tempDir('tremolo-timeout-');
    try {
      const stop = new AbortController();
      const { onProgress, started } = firstProgress();
      const task = pool.run('transcode', { input: longClip, outDir: join(parent, 'v') }, { signal: stop.signal, onProgress });
      await started;
      stop.abort(new DOMException('timed out', 'TimeoutError'));
      await assert.rejects(task, (e: unknown) => e instanceof TremoloError && e.code === 'E_JOB_TIMEOUT');
      assert.deepEqual(await readdir(parent), []);
    } finally {
      await pool.close();
      await removeDir(parent);
    }
  });

  it('rejects at once when the signal is already aborted, and after close', async () => {
    const pool = new MediaPool({ threads: 1, maxQueue: 1 });
    await assert.rejects(pool.run('probe', { file: clip }, { signal: AbortSignal.abort() }), (e: unknown) => e instanceof TremoloError && e.code === 'E_JOB_CANCELLED');
    await pool.close();
    await assert.rejects(pool.run('probe', { file: clip }), (e: unknown) => e instanceof TremoloError && e.code === 'E_SHUTTING_DOWN');
  });
});
