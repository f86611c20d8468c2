/**
 * Media on object storage (MEDIA_STORE=s3) against s3rver (test/helpers/s3.ts), with real
 * ffmpeg: the same upload -> job -> publish -> play (a Range request of the MP4, HLS master ->
 * rendition -> segment) passes on local files and on the bucket; on the bucket nothing lands
 * in DATA_DIR and media is answered with a redirect to a presigned URL.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { play, published, s3, SECRETS, upload, useClipAndBucket } from '../helpers/object-storage-flow.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { newUser, startServer } from '../helpers/server.ts';

useClipAndBucket();

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

