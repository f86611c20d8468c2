/**
 * MEDIA_DELIVERY=proxy with MEDIA_STORE=s3 (s3rver): the process streams objects itself, a
 * Range passed on to the bucket and answered 206.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { play, published, s3, SECRETS, upload, useClipAndBucket } from '../helpers/object-storage-flow.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { newUser, startServer } from '../helpers/server.ts';

useClipAndBucket();

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

