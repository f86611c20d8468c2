/**
 * The media pipeline end to end, through the public API only (tus upload, REST, the live
 * socket), with real ffmpeg and the real ONNX tagger: upload -> job (probe, transcode, tag)
 * -> published video with signed URLs; cancellation; bad media; a full queue; a job
 * abandoned by a dead process; restarts on Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobProgressPayload } from '../../src/protocol/live.ts';
import type { Video } from '../../src/protocol/model.ts';
import type { Tremolo } from '../../src/main.ts';
import { makeClip, playlistDisguisedAsTs, processesMentioning, tempDir, truncatedCopy } from '../helpers/ffmpeg-fixtures.ts';
import { ffmpegPath, requireFont } from '../helpers/media-fixtures.ts';
import { sample, stageRuns } from '../helpers/metrics.ts';
import { spawnServer } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';
import { tusUpload } from '../helpers/tus-upload.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
let clips: string;
/** 3 s, 640x360, a 440 Hz tone and the word TREMOLO on screen (so OCR yields a tag). */
let wordClip: string;
/** 30 s 720p: long enough to still be transcoding when a test acts on it. */
let longClip: string;
/** 150 s: no attempt gets through it within the pool-full test's JOB_TIMEOUT, however fast the machine. */
let veryLongClip: string;

before(async () => {
  clips = await tempDir('tremolo-pipeline-');
  wordClip = join(clips, 'word.mp4');
  const font = requireFont('latin');
  await run(ffmpegPath, [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', '3',
    '-vf', `drawbox=x=60:y=110:w=520:h=140:color=white:t=fill,drawtext=fontfile=${font}:text=TREMOLO:fontsize=96:fontcolor=black:x=(w-text_w)/2:y=(h-text_h)/2`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k',
    wordClip,
  ]);
  // Looped by stream copy: encoding 30 s of testsrc2 takes several times longer.
  const short = await makeClip(clips, { seconds: 5, width: 1280, height: 720, fps: 30 });
  longClip = join(clips, 'long.mp4');
  await run(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', '5', '-i', short, '-c', 'copy', longClip]);
  veryLongClip = join(clips, 'very-long.mp4');
  await run(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', '29', '-i', short, '-c', 'copy', veryLongClip]);
});

after(async () => {
  await rm(clips, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

interface JobBody {
  id: string;
  stage: string;
  percent: number;
  attempts: number;
  uploadId: string;
  videoId?: string;
  error?: { code: string; message: string };
  cancelRequested?: boolean;
}

async function api<T>(server: { url: string }, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

const getJob = async (server: { url: string }, token: string, id: string): Promise<JobBody> => {
  const r = await api<JobBody>(server, token, 'GET', `/v1/jobs/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};

async function jobReaches(server: Tremolo, token: string, id: string, stages: string[], ms = 60_000): Promise<JobBody> {
  let last: JobBody | undefined;
  await eventually(async () => stages.includes((last = await getJob(server, token, id)).stage), `job ${id} to reach ${stages.join('|')}`, ms);
  return last!;
}

const uploadIdOf = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

// ------------------------------------------------------------------ one server, memory storage

describe('on one server', () => {
  let server: Tremolo;
  let dataDir: string;

  before(async () => {
    dataDir = await tempDir('tremolo-pipeline-data-');
    // The tools named explicitly (the default, Debian's on PATH), so the attack test below means the same binaries on any revision.
    server = await startServer({ DATA_DIR: dataDir, JOB_LEASE: '1500ms', FFMPEG_PATH: 'ffmpeg', FFPROBE_PATH: 'ffprobe' });
  });

  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('an upload becomes a published, tagged video with signed media, progress pushed live', async () => {
    const alice = await newUser(server, 'media');
    const live = await liveClient(server, { token: alice.token });
    const events: JobProgressPayload[] = [];
    live.on('job', (p) => events.push(p));
    try {
      const { jobId } = await tusUpload(server, await readFile(wordClip), alice.token, { title: 'My first clip', description: 'testing' });
      const job = await jobReaches(server, alice.token, jobId, ['ready', 'failed']);
      assert.equal(job.stage, 'ready', JSON.stringify(job.error));
      assert.equal(job.percent, 100);
      assert.equal(job.error, undefined, 'tagging succeeded');
      assert.ok(job.videoId);

      // Live progress: every stage, in order, ending ready with the video id.
      await eventually(() => events.some((e) => e.stage === 'ready'), 'ready event');
      const mine = events.filter((e) => e.jobId === jobId);
      const stages = mine.map((e) => e.stage).filter((s, i, a) => a[i - 1] !== s);
      assert.deepEqual(stages, ['queued', 'probing', 'transcoding', 'tagging', 'ready']);
      assert.ok(mine.some((e) => e.stage === 'transcoding' && e.percent > 0 && e.percent < 100), 'transcoding progress in between');
      assert.equal(mine.at(-1)?.videoId, job.videoId);

      // Published with freshly signed URLs that serve, Range included.
      const got = await api<Video>(server, alice.token, 'GET', `/v1/videos/${job.videoId}`);
      assert.equal(got.status, 200);
      const video = got.body;
      assert.equal(video.title, 'My first clip');
      assert.equal(video.description, 'testing');
      for (const url of [video.media.hls, video.media.mp4, video.media.poster]) {
        assert.match(url ?? '', /^\/media\/[A-Za-z0-9]+\/.+\?exp=\d+&sig=[\w-]{43}$/);
      }
      const mp4 = await fetch(`${server.url}${video.media.mp4}`, { headers: { range: 'bytes=0-99' } });
      assert.equal(mp4.status, 206);
      assert.equal((await mp4.arrayBuffer()).byteLength, 100);
      const master = await fetch(`${server.url}${video.media.hls}`);
      assert.equal(master.status, 200);
      const variant = (await master.text()).split('\n').find((l) => l.includes('index.m3u8'));
      assert.ok(variant && /sig=/.test(variant), 'playlist URIs are signed');
      assert.equal((await fetch(`${server.url}${variant}`)).status, 200);
      const poster = await fetch(`${server.url}${video.media.poster}`);
      assert.equal(poster.status, 200);
      assert.match(poster.headers.get('content-type') ?? '', /image\/jpeg/);
      const unsigned = await fetch(`${server.url}${video.media.mp4!.split('?')[0]}`);
      assert.equal(unsigned.status, 403);

      // Tagged (visible at once: publishing drops the cached untagged copy): OCR read the word
      // on screen; the tag index finds the video.
      const tagged = (await api<Video>(server, alice.token, 'GET', `/v1/videos/${job.videoId}`)).body;
      assert.ok(tagged.tagging?.tags.includes('tremolo'), JSON.stringify(tagged.tagging));
      assert.ok(tagged.tagging?.ocr?.some((l) => /TREMOLO/i.test(l.text)));
      assert.equal(typeof tagged.tagging?.speechRatio, 'number');
      const byTag = await api<{ items: Video[] }>(server, alice.token, 'GET', '/v1/tags/tremolo/videos');
      assert.ok(byTag.body.items.some((v) => v.id === job.videoId && v.media.mp4?.includes('sig=')));

      // Owner only; a finished job cannot be cancelled.
      const bob = await newUser(server, 'media');
      assert.equal((await api(server, bob.token, 'GET', `/v1/jobs/${jobId}`)).status, 404);
      const del = await api<{ error: { code: string } }>(server, alice.token, 'DELETE', `/v1/jobs/${jobId}`);
      assert.equal(del.status, 409);
      assert.equal(del.body.error.code, 'E_JOB_FINISHED');

      // The same processed media can be published again from the upload id.
      const again = await api<Video>(server, alice.token, 'POST', '/v1/videos', { title: 'Repost', uploadId: job.uploadId });
      assert.equal(again.status, 201);
      assert.notEqual(again.body.id, job.videoId);
      assert.ok(again.body.media.mp4?.includes('sig='));
      const notYours = await api<{ error: { code: string } }>(server, bob.token, 'POST', '/v1/videos', { title: 'x', uploadId: job.uploadId });
      assert.equal(notYours.body.error.code, 'E_UPLOAD_NOT_FOUND');
    } finally {
      live.close();
    }
  });

  test('on-screen hashtags and Chinese captions become tags people can search; OCR boxes and speech segments stay on the video', async () => {
    // 640x360: "#Travel" in the upper half, "美食探店第3期" in the lower half; spoken English.
    const font = requireFont('cjk');
    const hashtag = join(clips, 'hashtag.txt');
    const caption = join(clips, 'caption.txt');
    await writeFile(hashtag, '#Travel');
    await writeFile(caption, '美食探店第3期');
    const speech = join(clips, 'speech.wav');
    await run('espeak-ng', ['-s', '150', '-w', speech, 'Welcome back to my channel. Today we travel and eat together.']);
    const clip = join(clips, 'tags.mp4');
    const text = (file: string, y: number): string => `drawtext=fontfile=${font}:textfile=${file}:fontsize=56:fontcolor=black:x=(w-text_w)/2:y=${y}`;
    await run(ffmpegPath, [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=c=white:s=640x360:r=25', '-i', speech,
      '-vf', `${text(hashtag, 70)},${text(caption, 220)}`,
      '-shortest', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k',
      clip,
    ]);
    const dana = await newUser(server, 'tags');
    const { jobId } = await tusUpload(server, await readFile(clip), dana.token, { title: 'Food trip' });
    const job = await jobReaches(server, dana.token, jobId, ['ready', 'failed']);
    assert.equal(job.stage, 'ready', JSON.stringify(job.error));
    assert.equal(job.error, undefined, 'tagging succeeded');

    const tagging = (await api<Video>(server, dana.token, 'GET', `/v1/videos/${job.videoId}`)).body.tagging;
    const tags = tagging?.tags ?? [];
    for (const tag of ['travel', '美食', '探店', '第3期', 'speech']) assert.ok(tags.includes(tag), `${tag} in ${tags.join(' ')}`);
    assert.ok(tags.every((t) => !t.startsWith('#')), 'hashtags are stored without #');
    for (const q of ['travel', '#Travel', 'TRAVEL', '探店', '第3期', '美食探店第3期']) {
      const found = await api<{ items: Video[] }>(server, dana.token, 'GET', `/v1/tags/${encodeURIComponent(q)}/videos`);
      assert.equal(found.status, 200);
      assert.ok(found.body.items.some((v) => v.id === job.videoId), `GET /v1/tags/${q}/videos finds the video`);
    }

    // The boxes come with the size of the keyframes they were read on; the caption sits low.
    assert.deepEqual(tagging?.frame, { width: 640, height: 360 });
    const line = tagging?.ocr?.find((l) => l.text.includes('探店'));
    assert.ok(line?.box, JSON.stringify(tagging?.ocr));
    assert.ok(line.box.every(([x, y]) => x >= 0 && x <= 640 && y >= 0 && y <= 360 && Number.isInteger(x) && Number.isInteger(y)));
    const middle = line.box.reduce((sum, [, y]) => sum + y, 0) / 4;
    assert.ok(middle > 180 && middle < 330, `caption box centred at y=${middle}`);
    const segments = tagging?.speechSegments ?? [];
    assert.ok(segments.length > 0 && segments.every((g) => g.endS > g.startS && g.startS >= 0), JSON.stringify(segments));
  });

  test('cancelling a running job kills ffmpeg and removes partial output', async () => {
    const carol = await newUser(server, 'media');
    const registry = server.metrics.registry;
    const cancelledBefore = await stageRuns(registry, 'transcoding', 'cancelled');
    const { url, jobId } = await tusUpload(server, await readFile(longClip), carol.token, { title: 'long one' });
    const uploadId = uploadIdOf(url);
    await eventually(async () => {
      const j = await getJob(server, carol.token, jobId);
      return j.stage === 'transcoding' && (await processesMentioning(uploadId)).length > 0;
    }, 'ffmpeg transcoding the upload', 30_000);
    assert.equal(await sample(registry, 'tremolo_media_jobs_running', { stage: 'transcoding' }), 1, 'the job is counted while it transcodes');

    const del = await api<JobBody>(server, carol.token, 'DELETE', `/v1/jobs/${jobId}`);
    assert.equal(del.status, 202);
    assert.equal(del.body.cancelRequested, true);
    const job = await jobReaches(server, carol.token, jobId, ['cancelled', 'ready', 'failed'], 20_000);
    assert.equal(job.stage, 'cancelled');
    assert.equal(job.videoId, undefined);
    assert.deepEqual(await processesMentioning(uploadId), [], 'no ffmpeg left running');
    const leftovers = (await readdir(join(dataDir, 'media'))).filter((d) => d.startsWith(jobId));
    assert.deepEqual(leftovers, [], 'no partial output left');
    assert.equal((await api<{ error: { code: string } }>(server, carol.token, 'DELETE', `/v1/jobs/${jobId}`)).status, 409);
    assert.equal((await stageRuns(registry, 'transcoding', 'cancelled')) - cancelledBefore, 1, 'the transcoding run is counted cancelled');
    assert.equal(await sample(registry, 'tremolo_media_jobs_running', { stage: 'transcoding' }), 0);
  });

  test('a file that is not a playable video ends failed with E_MEDIA_INVALID', async () => {
    const dave = await newUser(server, 'media');
    const truncated = await truncatedCopy(longClip, join(clips, 'truncated.mp4'), 0.5);
    const { jobId } = await tusUpload(server, await readFile(truncated), dave.token, { title: 'broken' });
    const job = await jobReaches(server, dave.token, jobId, ['failed', 'ready']);
    assert.equal(job.stage, 'failed');
    assert.equal(job.error?.code, 'E_MEDIA_INVALID');
    await assert.rejects(stat(join(dataDir, 'media', jobId)), { code: 'ENOENT' });
  });

  test('an upload that is an HLS playlist naming another user\'s video (disguised as MPEG-TS) fails E_MEDIA_INVALID; nothing is copied', async () => {
    // Issue 13: probed as a stream and accepted, then opened as HLS by ffmpeg, which copied
    // the named file (another job's output) into this upload's published video.
    const victim = join(dataDir, 'media', 'victimjob');
    await mkdir(victim, { recursive: true });
    // As a finished job leaves it: an MP4 with faststart, which HLS reads as a segment.
    await copyFile(await makeClip(clips, { seconds: 2, width: 640, height: 360, faststart: true }), join(victim, 'video.mp4'));
    try {
      const mallory = await newUser(server, 'media');
      const attack = await playlistDisguisedAsTs(clips, 'attack', '../media/victimjob/video.mp4');
      const { jobId } = await tusUpload(server, await readFile(attack), mallory.token, { title: 'not mine' });
      const job = await jobReaches(server, mallory.token, jobId, ['failed', 'ready']);
      assert.equal(job.stage, 'failed', `published as video ${job.videoId}`);
      assert.equal(job.error?.code, 'E_MEDIA_INVALID');
      assert.match(job.error?.message ?? '', /not recognised/);
      assert.equal(job.videoId, undefined);
      await assert.rejects(stat(join(dataDir, 'media', jobId)), { code: 'ENOENT' });
    } finally {
      await rm(victim, { recursive: true, force: true });
    }
  });

  test('a job whose holder died is taken over when its lease lapses, and completes', async () => {
    const erin = await newUser(server, 'media');
    // What a process leaves behind when it dies mid-job: a finished upload (with its quota
    // reservation), and a job record leased to it, never renewed.
    const uploadId = `${erin.id}-${randomBytes(16).toString('hex')}`;
    const clip = await readFile(wordClip);
    await writeFile(join(dataDir, 'uploads', uploadId), clip);
    await server.store.uploads.reserve(erin.id, uploadId, clip.length, Number.MAX_SAFE_INTEGER);
    const now = Date.now();
    const id = server.engine.newId();
    await server.store.jobs.create({
      id,
      ownerId: erin.id,
      uploadId,
      title: 'orphaned',
      description: '',
      stage: 'queued',
      percent: 0,
      attempts: 0,
      createdAt: new Date(now).toISOString(),
      updatedAt: new Date(now).toISOString(),
    });
    // Claimed in the same turn as it was created (the memory store answers at once), so the
    // server's runner cannot slip in between; the dead process never renews.
    const claimed = await server.store.jobs.claim('dead-process', { now, leaseMs: 1500, maxAttempts: 3 });
    assert.equal(claimed?.id, id);
    assert.equal(claimed.leaseOwner, 'dead-process');
    assert.equal((await getJob(server, erin.token, id)).stage, 'queued', 'still untouched while the lease holds');

    const job = await jobReaches(server, erin.token, id, ['ready', 'failed'], 60_000);
    assert.equal(job.stage, 'ready', JSON.stringify(job.error));
    assert.equal(job.attempts, 2, 'claimed once by the dead process, once by the survivor');
    const video = await api<Video>(server, erin.token, 'GET', `/v1/videos/${job.videoId}`);
    assert.equal(video.body.title, 'orphaned');
  });
});

// ------------------------------------------------------------------ a full pool

test('with the pool full, finishing an upload answers 429 E_QUEUE_FULL with Retry-After; jobs time out with E_JOB_TIMEOUT', async () => {
  const dataDir = await tempDir('tremolo-pipeline-full-');
  // One thread and one queue slot: two running jobs fill this process. Each attempt may run
  // 15 s, far less than the 150 s clip needs, so every job here ends in E_JOB_TIMEOUT; and long
  // enough that both jobs still hold the pool while the test uploads the next one on a loaded
  // machine (with 2 s the first job could time out before the check that it runs).
  const server = await startServer({ DATA_DIR: dataDir, WORKER_THREADS: '1', WORKER_MAX_QUEUE: '1', JOB_LEASE: '1500ms', JOB_TIMEOUT: '15s' });
  try {
    const user = await newUser(server, 'full');
    const data = await readFile(veryLongClip);
    // The third upload is sent up to its last byte before the pool fills.
    const created = await fetch(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${user.token}`,
        'tus-resumable': '1.0.0',
        'upload-length': String(data.length),
        'upload-metadata': `title ${Buffer.from('third').toString('base64')}`,
      },
    });
    assert.equal(created.status, 201);
    const thirdUrl = created.headers.get('location')!;
    const patch = (offset: number, body: Buffer) =>
      fetch(thirdUrl, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${user.token}`, 'tus-resumable': '1.0.0', 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
        body: new Uint8Array(body),
      });
    assert.equal((await patch(0, data.subarray(0, data.length - 1))).status, 204);

    const first = await tusUpload(server, data, user.token, { title: 'one' });
    await jobReaches(server, user.token, first.jobId, ['probing', 'transcoding']);
    const second = await tusUpload(server, data, user.token, { title: 'two' });
    await jobReaches(server, user.token, second.jobId, ['probing', 'transcoding']);

    const full = await patch(data.length - 1, data.subarray(data.length - 1));
    assert.equal(full.status, 429);
    assert.ok(Number(full.headers.get('retry-after')) >= 1);
    assert.equal(((await full.json()) as { error: { code: string } }).error.code, 'E_QUEUE_FULL');
    const uploadId = uploadIdOf(thirdUrl);
    const head = await fetch(thirdUrl, { method: 'HEAD', headers: { authorization: `Bearer ${user.token}`, 'tus-resumable': '1.0.0' } });
    assert.equal(head.headers.get('upload-offset'), String(data.length), 'the upload itself is complete and kept');
    const refused = await api<{ error: { code: string } }>(server, user.token, 'POST', '/v1/jobs', { uploadId });
    assert.equal(refused.status, 429);

    // The two accepted jobs were not disturbed: they run until their time is up.
    for (const j of [first, second]) {
      const done = await jobReaches(server, user.token, j.jobId, ['failed', 'ready', 'cancelled'], 60_000);
      assert.equal(done.stage, 'failed');
      assert.equal(done.error?.code, 'E_JOB_TIMEOUT');
    }
    const registry = server.metrics.registry;
    const timedOut = (await stageRuns(registry, 'probing', 'timeout')) + (await stageRuns(registry, 'transcoding', 'timeout'));
    assert.equal(timedOut, 2, 'each stage run cut short is counted as a timeout');
    assert.equal(await sample(registry, 'tremolo_media_jobs_finished_total', { outcome: 'failed' }), 2);
    // Room again: the kept upload starts, runs, and is cleaned up after its own timeout.
    let started: { status: number; body: JobBody } | undefined;
    await eventually(async () => (started = await api<JobBody>(server, user.token, 'POST', '/v1/jobs', { uploadId })).status === 201, 'room for the third job', 60_000);
    await jobReaches(server, user.token, started!.body.id, ['probing', 'transcoding', 'failed']);
    const third = await jobReaches(server, user.token, started!.body.id, ['failed', 'ready'], 60_000);
    assert.equal(third.error?.code, 'E_JOB_TIMEOUT');
    assert.deepEqual(await processesMentioning(uploadId), [], 'its ffmpeg was stopped');
    assert.deepEqual(await readdir(join(dataDir, 'media')), [], 'no output left behind by timed-out jobs');
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ restarts, on Redis

test('on Redis, a gracefully stopped job is taken over at once without using an attempt; crashes use attempts up', async () => {
  const redis = await connectRedis();
  const prefix = randomPrefix('pipeline');
  const dataDir = await tempDir('tremolo-pipeline-restart-');
  const env = { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, DATA_DIR: dataDir, JOB_MAX_ATTEMPTS: '2' };
  // a lease far longer than this test waits: only a lease given back lets the next server in
  let server = await startServer({ ...env, JOB_LEASE: '10m' });
  try {
    const user = await newUser(server, 'restart');
    const { jobId, url } = await tusUpload(server, await readFile(longClip), user.token, { title: 'survivor' });
    const uploadId = uploadIdOf(url);
    await jobReaches(server, user.token, jobId, ['transcoding']);
    await server.close(); // ffmpeg stopped, the lease given back

    server = await startServer({ ...env, JOB_LEASE: '10m' });
    await eventually(async () => {
      const j = await getJob(server, user.token, jobId);
      return j.stage === 'transcoding' && j.percent > 0 && j.attempts === 1;
    }, 'taken over at once, the interrupted attempt not counted', 30_000);
    await server.close();

    // Crashes give nothing back: the lease lapses (2 s) and each one costs an attempt.
    for (const attempt of [1, 2]) {
      const proc = await spawnServer({ ...env, JOB_LEASE: '2s' });
      try {
        await eventually(async () => {
          const j = await getJob(proc, user.token, jobId);
          return j.stage === 'transcoding' && j.attempts === attempt && (await processesMentioning(uploadId)).length > 0;
        }, `attempt ${attempt} transcoding in a process that will crash`, 30_000);
      } finally {
        const exited = new Promise((r) => proc.child.once('exit', r));
        proc.child.kill('SIGKILL');
        await exited;
        for (const pid of await processesMentioning(uploadId)) process.kill(pid, 'SIGKILL'); // its orphaned ffmpeg
      }
    }

    server = await startServer({ ...env, JOB_LEASE: '2s' });
    const failed = await jobReaches(server, user.token, jobId, ['failed', 'ready'], 20_000);
    assert.equal(failed.stage, 'failed');
    assert.match(failed.error?.message ?? '', /2 attempts/);
  } finally {
    await server.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('on Redis, jobs polled for by two processes at once each run in exactly one of them', async () => {
  const redis = await connectRedis();
  const prefix = randomPrefix('pipeline2');
  const dataDir = await tempDir('tremolo-pipeline-two-');
  const env = { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, DATA_DIR: dataDir, JOB_LEASE: '2s', WORKER_THREADS: '1' };
  const a = await startServer({ ...env, NODE_ID: '1' });
  const b = await startServer({ ...env, NODE_ID: '2' });
  try {
    const user = await newUser(a, 'two');
    const clip = await readFile(wordClip);
    const now = Date.now();
    // Three finished uploads whose jobs appear in storage at once: both runners race for them.
    const ids = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const uploadId = `${user.id}-${randomBytes(16).toString('hex')}`;
        await writeFile(join(dataDir, 'uploads', uploadId), clip);
        await a.store.uploads.reserve(user.id, uploadId, clip.length, Number.MAX_SAFE_INTEGER);
        const id = a.engine.newId();
        const at = new Date(now).toISOString();
        await a.store.jobs.create({ id, ownerId: user.id, uploadId, title: `clip ${n}`, description: '', stage: 'queued', percent: 0, attempts: 0, createdAt: at, updatedAt: at });
        return id;
      }),
    );
    const videos = new Set<string>();
    for (const id of ids) {
      const job = await jobReaches(b, user.token, id, ['ready', 'failed']);
      assert.equal(job.stage, 'ready', JSON.stringify(job.error));
      assert.equal(job.attempts, 1, 'claimed once');
      videos.add(job.videoId!);
    }
    assert.equal(videos.size, 3);
    const mine = await api<{ items: Video[] }>(a, user.token, 'GET', `/v1/users/${user.id}/videos?limit=10`);
    assert.equal(mine.body.items.length, 3, 'each job published exactly one video');
  } finally {
    await a.close();
    await b.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  }
});
