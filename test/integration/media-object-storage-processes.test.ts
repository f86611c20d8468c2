/**
 * Three processes that share only Redis and the bucket (s3rver; each its own DATA_DIR): an
 * upload's PATCHes go to two of them (tus's lock and the upload's state are in storage), the
 * job runs on any, and the video plays from the third.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { play, published, s3, SECRETS, upload, useClipAndBucket } from '../helpers/object-storage-flow.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { newUser } from '../helpers/server.ts';

useClipAndBucket();

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
    // one after another: three starting at once on a loaded machine can time out their Redis commands
    for (const [i, dir] of dirs.entries()) {
      procs.push(await spawnServer({ STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, NODE_ID: String(60 + i), DATA_DIR: dir, WORKER_THREADS: '1', ...SECRETS, ...s3.env }));
    }
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
