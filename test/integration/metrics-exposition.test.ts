/**
 * The metrics exposition as Prometheus's own linter reads it: `promtool check metrics`
 * (Debian package `prometheus`, provisioned by scripts/test.mjs) over the registry of a
 * running server that has served requests, so the histograms and labelled series are there.
 * The media pipeline's families are checked after real work: tus uploads, a job that is
 * published and one that fails.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import type { Tremolo } from '../../src/main.ts';
import { makeClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { sample, stageRuns } from '../helpers/metrics.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

function promtoolCheck(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(exposition);
  });
}

describe('metrics exposition', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('passes promtool check metrics after real traffic', async () => {
    const alice = await newUser(server, 'prom');
    const video = await alice.http.createVideo({ title: 'metrics', mediaUrl: 'https://cdn.example/v.mp4' });
    await alice.http.like(video.id);
    await alice.http.getVideo(video.id);
    const exposition = await server.metrics.registry.metrics();
    assert.match(exposition, /tremolo_http_request_duration_seconds_bucket/);
    assert.match(exposition, /nodejs_active_handles\{/);
    const { code, output } = await promtoolCheck(exposition);
    assert.equal(output.trim(), '', `promtool reported:\n${output}`);
    assert.equal(code, 0);
  });
});

const tus = { 'tus-resumable': '1.0.0' };

describe('media pipeline metrics', () => {
  let server: Tremolo;
  let dataDir: string;
  let user: { token: string };
  const registry = (): Registry => server.metrics.registry;
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${user.token}` });

  before(async () => {
    dataDir = await tempDir('tremolo-media-metrics-');
    server = await startServer({ DATA_DIR: dataDir, FFMPEG_PATH: 'ffmpeg', FFPROBE_PATH: 'ffprobe' });
    user = await newUser(server, 'mm');
  });
  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Creates a tus upload of `size` bytes; its URL. */
  async function create(size: number, title: string): Promise<string> {
    const res = await fetch(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: { ...auth(), ...tus, 'upload-length': String(size), 'upload-metadata': `title ${Buffer.from(title).toString('base64')}` },
    });
    assert.equal(res.status, 201, await res.text());
    return new URL(res.headers.get('location')!, server.url).href;
  }

  /** The final PATCH of a whole file in one request: the job id it started. */
  async function send(url: string, data: Buffer): Promise<string> {
    const res = await fetch(url, {
      method: 'PATCH',
      headers: { ...auth(), ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: new Uint8Array(data),
    });
    assert.equal(res.status, 204, await res.text());
    return res.headers.get('tremolo-job-id')!;
  }

  async function jobEnds(jobId: string): Promise<string> {
    let stage = '';
    await eventually(
      async () => {
        const res = await fetch(`${server.url}/v1/jobs/${jobId}`, { headers: auth() });
        stage = ((await res.json()) as { stage: string }).stage;
        return ['ready', 'failed', 'cancelled'].includes(stage);
      },
      `job ${jobId} to end`,
      90_000,
    );
    return stage;
  }

  it('counts upload bytes as they arrive and the upload as active meanwhile', async () => {
    const bytes = () => sample(registry(), 'tremolo_upload_received_bytes_total');
    const active = () => sample(registry(), 'tremolo_uploads_active');
    const data = Buffer.alloc(256 * 1024, 7);
    const before = await bytes();
    const url = await create(data.length, 'held open');
    // The body is fed by hand: half now, the rest once the server has counted the first half.
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
    const half = data.length / 2;
    feed.enqueue(data.subarray(0, half));
    const patch = fetch(url, {
      method: 'PATCH',
      headers: { ...auth(), ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    await eventually(async () => (await bytes()) - before >= half, 'the first half to be counted');
    assert.equal(await active(), 1, 'one upload receiving');
    feed.enqueue(data.subarray(half));
    feed.close();
    const res = await patch;
    await res.text();
    assert.equal(res.status, 204);
    assert.equal((await bytes()) - before, data.length);
    assert.equal(await active(), 0);
    // not a video: its job fails, which the next tests do not mind
    await jobEnds(res.headers.get('tremolo-job-id')!);
  });

  it('times each stage of a published job, counts it ready and times the tagging models', async () => {
    const clip = await readFile(await makeClip(dataDir, { seconds: 2, width: 640, height: 360 }));
    const count = (stage: string, outcome: string) => stageRuns(registry(), stage, outcome);
    const ready = () => sample(registry(), 'tremolo_media_jobs_finished_total', { outcome: 'ready' });
    const model = (m: string) => sample(registry(), 'tremolo_tagging_model_duration_seconds', { model: m }, 'tremolo_tagging_model_duration_seconds_count');
    const was = { ready: await ready(), ocr: await model('ocr'), speech: await model('speech') };
    const wasStages = await Promise.all(['probing', 'transcoding', 'tagging'].map((s) => count(s, 'ok')));

    const jobId = await send(await create(clip.length, 'a clip'), clip);
    assert.equal(await jobEnds(jobId), 'ready');
    assert.equal((await ready()) - was.ready, 1);
    for (const [i, stage] of ['probing', 'transcoding', 'tagging'].entries()) {
      assert.equal((await count(stage, 'ok')) - wasStages[i]!, 1, `one ${stage} run ended ok`);
      assert.equal(await sample(registry(), 'tremolo_media_jobs_running', { stage }), 0, `no job left ${stage}`);
    }
    const transcodeSeconds = await sample(registry(), 'tremolo_media_stage_duration_seconds', { stage: 'transcoding', outcome: 'ok' }, 'tremolo_media_stage_duration_seconds_sum');
    assert.ok(transcodeSeconds > 0);
    assert.equal((await model('ocr')) - was.ocr, 1);
    assert.equal((await model('speech')) - was.speech, 1);
    assert.equal(await sample(registry(), 'tremolo_media_pool_queue_depth'), 0);
    assert.equal(await sample(registry(), 'tremolo_media_pool_running_tasks'), 0);
  });

  it('counts a failed job, and the stage it failed in', async () => {
    const failed = () => sample(registry(), 'tremolo_media_jobs_finished_total', { outcome: 'failed' });
    const probeFailed = () => stageRuns(registry(), 'probing', 'failed');
    const was = { failed: await failed(), probe: await probeFailed() };
    const notes = join(dataDir, 'notes.mp4');
    await writeFile(notes, 'a shopping list, not a video\n'.repeat(100));
    const data = await readFile(notes);
    assert.equal(await jobEnds(await send(await create(data.length, 'not a video'), data)), 'failed');
    assert.equal((await failed()) - was.failed, 1);
    assert.equal((await probeFailed()) - was.probe, 1);
    assert.equal(await sample(registry(), 'tremolo_media_jobs_running', { stage: 'probing' }), 0);
  });

  it('passes promtool check metrics with the media families', async () => {
    const exposition = await registry().metrics();
    for (const family of [
      'tremolo_upload_received_bytes_total',
      'tremolo_uploads_active',
      'tremolo_media_jobs_running',
      'tremolo_media_jobs_finished_total',
      'tremolo_media_stage_duration_seconds_bucket',
      'tremolo_media_pool_queue_depth',
      'tremolo_media_pool_running_tasks',
      'tremolo_tagging_model_duration_seconds_bucket',
    ]) {
      assert.match(exposition, new RegExp(`^${family}[{ ]`, 'm'), family);
    }
    const { code, output } = await promtoolCheck(exposition);
    assert.equal(output.trim(), '', `promtool reported:\n${output}`);
    assert.equal(code, 0);
  });
});
