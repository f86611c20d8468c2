/**
 * Media on object storage (MEDIA_STORE=s3) against s3rver (test/helpers/s3.ts), with real
 * ffmpeg: the same upload -> job -> publish -> play (a Range request of the MP4) passes on
 * local files and on the bucket; on the bucket nothing lands in DATA_DIR, media is answered
 * with a redirect to a presigned URL or proxied, and HLS playlists lead to signed segments.
 * Then three processes that share only Redis and the bucket (each its own DATA_DIR): the
 * upload's PATCHes go to two of them, the job runs on any, and the video plays from the third.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Video } from '../../src/protocol/model.ts';
import { makeClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { startS3, type PrivateS3 } from '../helpers/s3.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

let clips: string;
let clip: Buffer;
let s3: PrivateS3;

before(async () => {
  clips = await tempDir('tremolo-s3-clips-');
  clip = await readFile(await makeClip(clips, { seconds: 2, width: 320, height: 240, fps: 15, audio: false }));
  s3 = await startS3();
});

after(async () => {
  await s3.stop();
  await rm(clips, { recursive: true, force: true });
});

const SECRETS = { MEDIA_SECRET: 'object-storage-media-secret-0123456789', JWT_SECRET: 'object-storage-jwt-secret-0123456789abcdef' };
const tusHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' });

/** Creates an upload on `create` and sends its bytes in halves to each of `patches` in turn; returns its id and job. */
async function upload(create: string, patches: string[], token: string, title: string): Promise<{ uploadId: string; jobId: string }> {
  const res = await fetch(`${create}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(token), 'upload-length': String(clip.length), 'upload-metadata': `title ${Buffer.from(title).toString('base64')}` },
  });
  assert.equal(res.status, 201, await res.text());
  const uploadId = (res.headers.get('location') ?? '').split('/').pop() ?? '';
  const cut = Math.floor(clip.length / 2);
  const chunks = [clip.subarray(0, cut), clip.subarray(cut)];
  let offset = 0;
  let jobId = '';
  for (const [i, chunk] of chunks.entries()) {
    const base = patches[i % patches.length]!;
    // where to resume, asked of the process that takes this PATCH (it knows only what storage knows)
    const head = await fetch(`${base}/v1/uploads/${uploadId}`, { method: 'HEAD', headers: tusHeaders(token) });
    assert.equal(head.headers.get('upload-offset'), String(offset), `offset seen by ${base}`);
    const patch = await fetch(`${base}/v1/uploads/${uploadId}`, {
      method: 'PATCH',
      headers: { ...tusHeaders(token), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      body: new Uint8Array(chunk),
    });
    assert.equal(patch.status, 204, await patch.text());
    offset += chunk.length;
    assert.equal(patch.headers.get('upload-offset'), String(offset));
    jobId = patch.headers.get('tremolo-job-id') ?? jobId;
  }
  assert.ok(jobId, 'the last PATCH starts the job');
  return { uploadId, jobId };
}

async function api<T>(base: string, token: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function published(base: string, token: string, jobId: string): Promise<Video> {
  let job: { stage: string; videoId?: string; error?: unknown } = { stage: 'queued' };
  await eventually(async () => ['ready', 'failed', 'cancelled'].includes((job = await api<typeof job>(base, token, `/v1/jobs/${jobId}`)).stage), `job ${jobId}`, 90_000);
  assert.equal(job.stage, 'ready', JSON.stringify(job.error));
  return api<Video>(base, token, `/v1/videos/${job.videoId}`);
}

/** Plays a published video from `base`: a Range request of the MP4, and the HLS master -> rendition -> first segment. */
async function play(base: string, video: Video): Promise<void> {
  const abs = (u: string | undefined): string => (u?.startsWith('http') ? u : `${base}${u}`);
  const mp4 = await fetch(abs(video.media.mp4), { headers: { range: 'bytes=0-99' } });
  assert.equal(mp4.status, 206);
  assert.equal((await mp4.arrayBuffer()).byteLength, 100);
  assert.match(mp4.headers.get('content-range') ?? '', /^bytes 0-99\/\d+$/);
  const master = await fetch(abs(video.media.hls));
  assert.equal(master.status, 200);
  const rendition = (await master.text()).split('\n').find((l) => l.trim() && !l.startsWith('#'));
  assert.ok(rendition?.includes('sig='), 'the master playlist names signed renditions');
  const masterUrl = new URL(abs(video.media.hls));
  const variant = await fetch(new URL(rendition!, masterUrl));
  assert.equal(variant.status, 200);
  const segment = (await variant.text()).split('\n').find((l) => l.trim() && !l.startsWith('#'));
  assert.ok(segment?.includes('sig='), 'the rendition playlist names signed segments');
  const ts = await fetch(new URL(segment!, new URL(rendition!, masterUrl)));
  assert.equal(ts.status, 200);
  assert.ok((await ts.arrayBuffer()).byteLength > 0);
}

for (const driver of ['file', 's3'] as const) {
  describe(`upload -> job -> publish -> play, MEDIA_STORE=${driver}`, () => {
    test('the same flow passes', async () => {
      const dataDir = await tempDir('tremolo-s3-data-');
      const server = await startServer({ DATA_DIR: dataDir, WORKER_THREADS: '1', ...SECRETS, ...(driver === 's3' ? s3.env : {}) });
      try {
        const alice = await newUser(server, 'obj');
        const { jobId } = await upload(server.url, [server.url], alice.token, `on ${driver}`);
        const video = await published(server.url, alice.token, jobId);
        await play(server.url, video);
        const local = await readdir(dataDir, { recursive: true });
        if (driver === 's3') {
          assert.deepEqual(local.filter((f) => f.endsWith('.mp4') || f.endsWith('.ts')), [], 'no media in DATA_DIR');
          const redirect = await fetch(`${server.url}${video.media.mp4}`, { redirect: 'manual' });
          assert.equal(redirect.status, 302, 'MEDIA_DELIVERY=redirect answers with a presigned URL');
          assert.ok(redirect.headers.get('location')?.startsWith(s3.endpoint));
        } else {
          assert.ok(local.some((f) => f.endsWith('video.mp4')), 'media in DATA_DIR');
        }
      } finally {
        await server.close();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}

describe('MEDIA_DELIVERY=proxy', () => {
  test('the process streams the object itself, Range included', async () => {
    const dataDir = await tempDir('tremolo-s3-data-');
    const server = await startServer({ DATA_DIR: dataDir, WORKER_THREADS: '1', ...SECRETS, ...s3.env, MEDIA_DELIVERY: 'proxy' });
    try {
      const bob = await newUser(server, 'prox');
      const { jobId } = await upload(server.url, [server.url], bob.token, 'proxied');
      const video = await published(server.url, bob.token, jobId);
      const res = await fetch(`${server.url}${video.media.mp4}`, { redirect: 'manual', headers: { range: 'bytes=10-19' } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-type'), 'video/mp4');
      assert.equal((await res.arrayBuffer()).byteLength, 10);
      const whole = await fetch(`${server.url}${video.media.poster}`, { redirect: 'manual' });
      assert.equal(whole.status, 200);
      assert.equal(Number(whole.headers.get('content-length')), (await whole.arrayBuffer()).byteLength);
      await play(server.url, video);
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('three processes sharing only Redis and the bucket', () => {
  const prefix = randomPrefix('s3procs');
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    const redis = await connectRedis();
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  test("an upload's PATCHes go to two processes, the job runs on any, and the video plays from the third", async () => {
    for (let i = 0; i < 3; i++) dirs.push(await tempDir(`tremolo-s3-proc${i}-`));
    procs.push(
      ...(await Promise.all(
        dirs.map((dir, i) =>
          spawnServer({ STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, NODE_ID: String(60 + i), DATA_DIR: dir, WORKER_THREADS: '1', ...SECRETS, ...s3.env }),
        ),
      )),
    );
    const [a, b, c] = procs as [ServerProcess, ServerProcess, ServerProcess];
    const carol = await newUser(a, 'trio');
    const { jobId } = await upload(a.url, [b.url, c.url], carol.token, 'three processes');
    const video = await published(b.url, carol.token, jobId);
    await play(a.url, video);
    for (const dir of dirs) {
      const files = await readdir(dir, { recursive: true });
      assert.deepEqual(files.filter((f) => /\.(mp4|ts|m3u8|jpg)$/.test(f) || /uploads\/./.test(f)), [], `nothing of the upload or its media in ${dir}`);
    }
  });
});
