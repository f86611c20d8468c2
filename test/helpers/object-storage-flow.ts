/**
 * The object-storage tests' shared flow (test/integration/media-object-storage*.test.ts):
 * a clip and a private s3rver for the file, an upload sent PATCH by PATCH to chosen
 * processes over raw tus, waiting for its job, and playing the published video.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before } from 'node:test';
import type { Video } from '../../src/protocol/model.ts';
import { makeClip, tempDir } from './ffmpeg-fixtures.ts';
import { startS3, type PrivateS3 } from './s3.ts';
import { eventually } from './eventually.ts';

let clips: string;
let clip: Buffer;
export let s3: PrivateS3;

/** Registers the file's before/after: a 2 s clip and an s3rver. */
export function useClipAndBucket(): void {
  before(async () => {
    clips = await tempDir('tremolo-s3-clips-');
    clip = await readFile(await makeClip(clips, { seconds: 2, width: 320, height: 240, fps: 15, audio: false }));
    s3 = await startS3();
  });
  after(async () => {
    await s3.stop();
    await rm(clips, { recursive: true, force: true });
  });
}

export const SECRETS = { MEDIA_SECRET: 'object-storage-media-secret-0123456789', JWT_SECRET: 'object-storage-jwt-secret-0123456789abcdef' };
const tusHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' });

/** Creates an upload on `create` and sends its bytes in halves to each of `patches` in turn; returns its id and job. */
export async function upload(create: string, patches: string[], token: string, title: string): Promise<{ uploadId: string; jobId: string }> {
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

export async function published(base: string, token: string, jobId: string): Promise<Video> {
  let job: { stage: string; videoId?: string; error?: unknown } = { stage: 'queued' };
  await eventually(async () => ['ready', 'failed', 'cancelled'].includes((job = await api<typeof job>(base, token, `/v1/jobs/${jobId}`)).stage), `job ${jobId}`, 90_000);
  assert.equal(job.stage, 'ready', JSON.stringify(job.error));
  return api<Video>(base, token, `/v1/videos/${job.videoId}`);
}

/** Plays a published video from `base`: a Range request of the MP4, and the HLS master -> rendition -> first segment. */
export async function play(base: string, video: Video): Promise<void> {
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

