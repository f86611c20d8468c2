/**
 * Uploads and media jobs in the behaviour log, end to end on both drivers: a real tus upload
 * is processed (probe, transcode, tag) and published, and the export to a private ClickHouse
 * 18.16 then holds its `upload` event and one `job_stage` event per stage, exactly once and
 * in order (they are written in the same storage write as the job record).
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BehaviourLog } from '../../src/storage/clickhouse/behaviour-log.ts';
import { startClickHouse, type PrivateServer } from '../helpers/clickhouse.ts';
import { makeClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { dropPrefix, connectRedis, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';
import { tusUpload } from '../helpers/tus-upload.ts';

describe('uploads and job stages in the export (ClickHouse)', () => {
  let clickhouse: PrivateServer;
  let rows: BehaviourLog;
  let dir: string;
  let clip: Buffer;
  const database = `m${process.pid}`;
  const prefix = randomPrefix('mediaev');

  before(async () => {
    dir = await tempDir('tremolo-media-events-');
    clip = await readFile(await makeClip(dir, { seconds: 1, width: 320, height: 240, fps: 10 }));
    clickhouse = await startClickHouse();
    rows = await BehaviourLog.open({ url: clickhouse.url, database });
  });
  after(async () => {
    await rows?.close();
    await clickhouse?.cleanup();
    await rm(dir, { recursive: true, force: true });
    const redis = await connectRedis();
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  for (const driver of ['memory', 'redis'] as const) {
    it(`${driver}: an upload published as a video leaves its upload event and each stage once, in order`, async () => {
      const server = await startServer({
        DATA_DIR: join(dir, driver),
        CLICKHOUSE_URL: clickhouse.url,
        CLICKHOUSE_DATABASE: database,
        EXPORT_BATCH_WAIT: '20ms',
        ...(driver === 'redis' ? { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix } : {}),
      });
      try {
        const owner = await newUser(server, 'up');
        const { jobId } = await tusUpload(server, clip, owner.token, { filename: 'clip.mp4', filetype: 'video/mp4', title: 'events' });
        const finished = async () => ['ready', 'failed', 'cancelled'].includes((await server.store.jobs.get(jobId))?.stage ?? '');
        await eventually(finished, 'the job to finish', 120_000);
        const job = (await server.store.jobs.get(jobId))!;
        assert.equal(job.stage, 'ready', JSON.stringify(job.error));
        await eventually(async () => (await server.store.interactions.lag()).total === 0, 'the exporter to drain the log', 30_000);
        const got = await rows.rows(`job_id = '${jobId}'`);
        assert.deepEqual(
          got.map((r) => [r.type, r.stage, r.user_id, r.video_id]),
          [
            ['upload', '', owner.id, ''],
            ['job_stage', 'queued', owner.id, ''],
            ['job_stage', 'probing', owner.id, ''],
            ['job_stage', 'transcoding', owner.id, ''],
            ['job_stage', 'tagging', owner.id, ''],
            ['job_stage', 'ready', owner.id, job.videoId],
          ],
        );
        assert.deepEqual(JSON.parse(got[0]!.props), { uploadId: JSON.parse(got[0]!.props).uploadId, bytes: clip.length, mime: 'video/mp4' });
        assert.deepEqual(await rows.countDistinct(`job_id = '${jobId}'`), { rows: 6, distinct: 6 }, 'each once');
      } finally {
        await server.close();
      }
    });
  }
});
