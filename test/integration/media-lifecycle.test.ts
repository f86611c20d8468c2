/**
 * What an upload holds and when it is given back, through the public API with real ffmpeg:
 * the quota stays reserved while a video shows media made from the upload (deleting the
 * upload alone does not free it); deleting the last such video removes the media (its signed
 * URLs stop serving before the DELETE is answered), the source upload and the reservation;
 * a deletion cut short by a crash is finished when a process starts again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tus from 'tus-js-client';
import type { Tremolo } from '../../src/main.ts';
import type { Video } from '../../src/protocol/model.ts';
import { MediaSigner } from '../../src/transport/media/signing.ts';
import { makeClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

let clips: string;
let clip: Buffer;

before(async () => {
  clips = await tempDir('tremolo-lifecycle-');
  clip = await readFile(await makeClip(clips, { seconds: 2, width: 320, height: 240, fps: 15, audio: false }));
});

after(async () => {
  await rm(clips, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

const tusHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' });

function tusUpload(server: Tremolo, token: string, title: string): Promise<{ url: string; jobId: string }> {
  return new Promise((resolve, reject) => {
    const u: tus.Upload = new tus.Upload(clip, {
      endpoint: `${server.url}/v1/uploads`,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { title },
      retryDelays: [],
      storeFingerprintForResuming: false,
      onSuccess: (p) => resolve({ url: u.url ?? '', jobId: p.lastResponse.getHeader('Tremolo-Job-Id') ?? '' }),
      onError: reject,
    });
    u.start();
  });
}

async function api<T>(server: Tremolo, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Uploads the clip and waits for its video; returns the upload URL, job id and the published video. */
async function publish(server: Tremolo, token: string, title: string): Promise<{ url: string; jobId: string; uploadId: string; video: Video }> {
  const { url, jobId } = await tusUpload(server, token, title);
  let job: { stage: string; videoId?: string; error?: unknown } = { stage: 'queued' };
  await eventually(
    async () => ['ready', 'failed', 'cancelled'].includes((job = (await api<typeof job>(server, token, 'GET', `/v1/jobs/${jobId}`)).body).stage),
    `job ${jobId} to finish`,
    60_000,
  );
  assert.equal(job.stage, 'ready', JSON.stringify(job.error));
  const video = (await api<Video>(server, token, 'GET', `/v1/videos/${job.videoId}`)).body;
  return { url, jobId, uploadId: url.slice(url.lastIndexOf('/') + 1), video };
}

/** Creates an upload of `size` bytes (no data): the quota decides. */
async function create(server: Tremolo, token: string, size: number): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(token), 'upload-length': String(size), 'upload-metadata': `title ${Buffer.from('next').toString('base64')}` },
  });
  const body = (await res.json().catch(() => undefined)) as { error?: { code: string } } | undefined;
  return { status: res.status, ...(body?.error ? { code: body.error.code } : {}) };
}

/** The status a signed media URL answers with (the body is read, so no connection is left busy). */
async function served(server: Tremolo, signedPath: string | undefined): Promise<number> {
  const res = await fetch(`${server.url}${signedPath}`);
  await res.arrayBuffer();
  return res.status;
}
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

// ------------------------------------------------------------------ memory store

describe('on the memory store', () => {
  let server: Tremolo;
  let dataDir: string;
  // one pool for these tests (its models load once); room for one clip per user, not two
  const env = (): Record<string, string> => ({
    DATA_DIR: dataDir,
    WORKER_THREADS: '1',
    UPLOAD_QUOTA_BYTES: String(Math.floor(clip.length * 1.5)),
    MEDIA_SECRET: 'lifecycle-media-secret-0123456789abcdef',
  });

  before(async () => {
    dataDir = await tempDir('tremolo-lifecycle-data-');
    server = await startServer(env());
  });

  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('a removed upload keeps its quota while its video shows the media; deleting the video removes the media at once and frees it', async () => {
    const alice = await newUser(server, 'life');
    const { url, jobId, video } = await publish(server, alice.token, 'short');
    assert.equal(await served(server, video.media.mp4), 200);

    // Terminating the finished upload leaves the video, which still shows the media: the quota stays taken.
    assert.equal((await fetch(url, { method: 'DELETE', headers: tusHeaders(alice.token) })).status, 204);
    assert.equal(await served(server, video.media.mp4), 200, 'the video still plays');
    assert.deepEqual(await create(server, alice.token, clip.length), { status: 413, code: 'E_QUOTA_EXCEEDED' });

    // Deleting the video removes its media before the DELETE is answered, and frees the quota.
    assert.equal((await api(server, alice.token, 'DELETE', `/v1/videos/${video.id}`)).status, 204);
    assert.equal(await served(server, video.media.mp4), 404, 'the same signed URL no longer serves');
    assert.equal(await exists(join(dataDir, 'media', jobId)), false, 'the media is gone from disk');
    assert.equal(await server.store.uploads.usedBytes(alice.id), 0);
    assert.equal((await create(server, alice.token, clip.length)).status, 201, 'room again');
  });

  test('media published again from one upload stays until its last video is deleted; then media, source and quota go', async () => {
    const bob = await newUser(server, 'life');
    const { jobId, uploadId, video: first } = await publish(server, bob.token, 'original');
    const again = await api<Video>(server, bob.token, 'POST', '/v1/videos', { title: 'repost', uploadId });
    assert.equal(again.status, 201);
    const second = again.body;

    assert.equal((await api(server, bob.token, 'DELETE', `/v1/videos/${first.id}`)).status, 204);
    assert.equal(await served(server, second.media.mp4), 200, 'the other video still shows the shared media');
    assert.deepEqual(await create(server, bob.token, clip.length), { status: 413, code: 'E_QUOTA_EXCEEDED' }, 'and holds the quota');

    assert.equal((await api(server, bob.token, 'DELETE', `/v1/videos/${second.id}`)).status, 204);
    for (const path of [first.media.mp4, second.media.mp4, second.media.poster, second.media.hls]) {
      assert.equal(await served(server, path), 404, path);
    }
    assert.equal(await exists(join(dataDir, 'media', jobId)), false, 'media removed');
    assert.equal(await exists(join(dataDir, 'uploads', uploadId)), false, 'the source upload removed');
    assert.equal(await exists(join(dataDir, 'uploads', `${uploadId}.json`)), false, 'and its record');
    assert.equal(await server.store.uploads.usedBytes(bob.id), 0, 'quota given back');
  });

  test('a job whose upload was removed while it ran publishes nothing: the video it made is taken back', async () => {
    const erin = await newUser(server, 'life');
    // The upload's bytes are still there for the running job, but its reservation is gone:
    // what a termination leaves when it lands after the job's last cancellation check.
    const uploadId = `${erin.id}-${randomBytes(16).toString('hex')}`;
    await writeFile(join(dataDir, 'uploads', uploadId), clip);
    const id = server.engine.newId();
    const at = new Date().toISOString();
    await server.store.jobs.create({ id, ownerId: erin.id, uploadId, title: 'too late', description: '', stage: 'queued', percent: 0, attempts: 0, createdAt: at, updatedAt: at });
    let job: { stage: string; videoId?: string } = { stage: 'queued' };
    await eventually(
      async () => ['ready', 'failed', 'cancelled'].includes((job = (await api<typeof job>(server, erin.token, 'GET', `/v1/jobs/${id}`)).body).stage),
      'the job to end',
      60_000,
    );
    assert.equal(job.stage, 'cancelled');
    assert.ok(job.videoId, 'it had published');
    assert.equal((await api(server, erin.token, 'GET', `/v1/videos/${job.videoId}`)).status, 404, 'and took the video back');
    assert.equal(await exists(join(dataDir, 'media', id)), false, 'its media removed');
    assert.deepEqual((await api<{ items: unknown[] }>(server, erin.token, 'GET', `/v1/users/${erin.id}/videos`)).body.items, []);
  });

  test('a restart forgets every video of the memory store, and media left on disk stops serving', async () => {
    // What a process leaves when it stops: media of a job that the next process's (empty)
    // memory store does not know, with a URL signed for it that has not expired.
    const jobId = server.engine.newId();
    await mkdir(join(dataDir, 'media', jobId), { recursive: true });
    await writeFile(join(dataDir, 'media', jobId, 'video.mp4'), randomBytes(1000));
    const signed = new MediaSigner({ secret: env().MEDIA_SECRET!, ttlS: 3600 }).sign(`/media/${jobId}/video.mp4`);
    assert.equal(await served(server, signed), 200);
    await server.close();

    server = await startServer(env());
    await eventually(async () => !(await exists(join(dataDir, 'media', jobId))), 'the media nobody knows removed at start');
    assert.equal(await served(server, signed), 404);
  });
});

// ------------------------------------------------------------------ Redis

test('on Redis, a deletion cut short by a crash is finished when a process starts: media, source and quota go', async () => {
  const redis = await connectRedis();
  const prefix = randomPrefix('lifecycle');
  const dataDir = await tempDir('tremolo-lifecycle-redis-');
  const env = { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, DATA_DIR: dataDir, WORKER_THREADS: '1', MEDIA_SECRET: randomBytes(32).toString('hex') };
  let server = await startServer(env);
  try {
    const carol = await newUser(server, 'life');
    const { jobId, uploadId, video } = await publish(server, carol.token, 'cut short');
    // The video is deleted in storage, and the process dies before it reaches the media.
    await server.engine.deleteVideo(video.id, carol.id);
    assert.equal(await served(server, video.media.mp4), 200, 'what the crash leaves: media still served');
    await server.close();

    server = await startServer(env);
    // the sweep a starting process runs: the reservation first, then the media, then the source
    await eventually(async () => !(await exists(join(dataDir, 'uploads', uploadId))), 'the source upload removed after the restart');
    assert.equal(await exists(join(dataDir, 'media', jobId)), false, 'the media removed');
    assert.equal(await served(server, video.media.mp4), 404);
    assert.equal(await server.store.uploads.usedBytes(carol.id), 0, 'the quota given back');
  } finally {
    await server.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  }
});
