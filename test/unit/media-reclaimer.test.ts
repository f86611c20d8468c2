/**
 * MediaReclaimer's rules, on the memory store and real files in a temporary DATA_DIR: what
 * a sweep removes (expired unfinished uploads, media nobody shows, media of failed jobs),
 * what it keeps (finished uploads, media being made or shown), and when an upload's quota
 * reservation is given back.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TsidGenerator } from '../../src/domain/ids.ts';
import type { VideoRecord } from '../../src/protocol/model.ts';
import type { JobRecord, JobStage } from '../../src/storage/jobs.ts';
import { FileMediaStore } from '../../src/storage/media/media-store.ts';
import { UploadFiles } from '../../src/storage/media/upload-files.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { MediaReclaimer } from '../../src/workers/media-reclaimer.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';

const ids = new TsidGenerator({ nodeId: 5 });
const HOUR = 3_600_000;
const now = Date.now();

describe('MediaReclaimer', () => {
  let dataDir: string;
  let store: MemoryStore;
  let files: UploadFiles;
  let media: FileMediaStore;
  let cancelled: string[];
  const reclaimer = (forgetsOnRestart = true): MediaReclaimer =>
    new MediaReclaimer({
      jobs: store.jobs,
      uploads: store.uploads,
      videos: store.videos,
      media,
      files,
      cancelJob: async (job) => void cancelled.push(job.id),
      expiryMs: HOUR,
      forgetsOnRestart,
      onError: (err) => {
        throw err;
      },
    });

  beforeEach(async () => {
    dataDir = await tempDir('tremolo-reclaimer-');
    store = new MemoryStore({ eventLogMax: 10, viewDedupS: 60 });
    files = new UploadFiles({ dataDir });
    await files.init();
    media = new FileMediaStore({ root: join(dataDir, 'media') });
    cancelled = [];
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

  /** An upload on disk as tus leaves it, with its reservation; `sent` bytes of `size` arrived. */
  async function upload(ownerId: string, opts: { size?: number; sent?: number; createdAt?: number; partial?: boolean } = {}): Promise<string> {
    const { size = 100, sent = size, createdAt = now } = opts;
    const id = UploadFiles.newId(ownerId);
    await writeFile(join(files.dir, id), Buffer.alloc(sent));
    const metadata = opts.partial ? { concat: 'partial', owner: ownerId } : { title: 't', owner: ownerId };
    const record = { id, size, offset: 0, metadata, creation_date: new Date(createdAt).toISOString() };
    await writeFile(join(files.dir, `${id}.json`), JSON.stringify(record));
    assert.equal((await store.uploads.reserve(ownerId, id, size, 10_000)).ok, true);
    return id;
  }

  /** A job of the upload in `stage`, with its media on disk, and (when ready) its published video. */
  async function job(ownerId: string, uploadId: string, stage: JobStage): Promise<{ job: JobRecord; video?: VideoRecord }> {
    const at = new Date(now).toISOString();
    const record: JobRecord = { id: ids.next(), ownerId, uploadId, title: 't', description: '', stage, percent: 0, attempts: 1, createdAt: at, updatedAt: at };
    let video: VideoRecord | undefined;
    if (stage === 'ready') {
      video = { id: ids.next(), ownerId, title: 't', description: '', createdAt: at, media: { mp4: `${record.id}/video.mp4` } };
      await store.videos.create(video);
      record.videoId = video.id;
      assert.equal(await store.uploads.addVideo(ownerId, uploadId, video.id), true);
    }
    await store.jobs.create(record);
    await files.linkJob(uploadId, record.id);
    await mkdir(media.dirFor(record.id), { recursive: true });
    await writeFile(join(media.dirFor(record.id), 'video.mp4'), 'mp4');
    return { job: record, ...(video ? { video } : {}) };
  }

  it('a sweep removes unfinished uploads past their expiry and gives their quota back; finished uploads stay', async () => {
    const owner = ids.next();
    const expired = await upload(owner, { size: 100, sent: 40, createdAt: now - 2 * HOUR });
    const fresh = await upload(owner, { size: 100, sent: 40, createdAt: now });
    const finishedLongAgo = await upload(owner, { size: 100, sent: 100, createdAt: now - 2 * HOUR });
    await reclaimer().sweep(now);
    assert.equal(await exists(join(files.dir, expired)), false);
    assert.equal(await exists(join(files.dir, `${expired}.json`)), false);
    assert.equal(await exists(join(files.dir, fresh)), true);
    assert.equal(await exists(join(files.dir, finishedLongAgo)), true, 'finished uploads are kept until removed or reclaimed');
    assert.equal(await store.uploads.usedBytes(owner), 200);
  });

  it('a finished partial upload (concatenation) that no final upload took expires like an unfinished one', async () => {
    const owner = ids.next();
    const partial = await upload(owner, { size: 100, sent: 100, createdAt: now - 2 * HOUR, partial: true });
    const freshPartial = await upload(owner, { size: 100, sent: 100, createdAt: now, partial: true });
    await reclaimer().sweep(now);
    assert.equal(await exists(join(files.dir, partial)), false);
    assert.equal(await exists(join(files.dir, freshPartial)), true);
    assert.equal(await store.uploads.usedBytes(owner), 100);
  });

  it('a sweep reclaims media no existing video shows, with its source and quota; media being made or shown stays', async () => {
    const owner = ids.next();
    const shownUpload = await upload(owner);
    const shown = await job(owner, shownUpload, 'ready');
    const orphanUpload = await upload(owner);
    const orphan = await job(owner, orphanUpload, 'ready');
    await store.videos.delete(orphan.video!.id); // deleted by a process that died before reaching its media
    const running = await job(owner, await upload(owner), 'transcoding');
    const failed = await job(owner, await upload(owner), 'failed');

    await reclaimer().sweep(now);
    assert.equal(await exists(media.dirFor(shown.job.id)), true, 'shown');
    assert.equal(await exists(media.dirFor(running.job.id)), true, 'being made');
    assert.equal(await exists(media.dirFor(failed.job.id)), false, 'a failed job\'s leftovers');
    assert.equal(await exists(media.dirFor(orphan.job.id)), false, 'nobody shows it');
    assert.equal(await exists(join(files.dir, orphanUpload)), false, 'its source went with it');
    assert.equal(await files.jobOf(orphanUpload), null);
    assert.deepEqual(await store.uploads.videos(owner, orphanUpload), []);
    assert.equal(await store.uploads.usedBytes(owner), 300, 'the orphan\'s 100 bytes given back; the failed job\'s upload is still there');
  });

  it('media whose job storage does not know is removed by a sweep only when storage forgets on restart', async () => {
    const stray = ids.next();
    await mkdir(media.dirFor(stray), { recursive: true });
    await reclaimer(false).sweep(now);
    assert.equal(await exists(media.dirFor(stray)), true, 'durable storage: an unknown job is a misconfiguration, not garbage');
    await reclaimer(true).sweep(now);
    assert.equal(await exists(media.dirFor(stray)), false);
  });

  it('a removed upload whose video shows its media keeps its quota until the video is deleted', async () => {
    const owner = ids.next();
    const id = await upload(owner);
    const { job: j, video } = await job(owner, id, 'ready');
    await files.remove(id); // terminated
    await reclaimer().uploadRemoved(owner, id);
    assert.equal(await store.uploads.usedBytes(owner), 100);
    assert.equal(await exists(media.dirFor(j.id)), true);

    await store.videos.delete(video!.id);
    await reclaimer().videoDeleted(video!);
    assert.equal(await exists(media.dirFor(j.id)), false);
    assert.equal(await store.uploads.usedBytes(owner), 0);
  });

  it('a removed upload without a video gives its quota back and stops its job', async () => {
    const owner = ids.next();
    const id = await upload(owner);
    const { job: j } = await job(owner, id, 'tagging');
    await files.remove(id);
    await reclaimer().uploadRemoved(owner, id);
    assert.equal(await store.uploads.usedBytes(owner), 0);
    assert.deepEqual(cancelled, [j.id]);
    assert.equal(await files.jobOf(id), null);
    // the job publishes anyway (it was past its last check): storage refuses to record its video
    assert.equal(await store.uploads.addVideo(owner, id, ids.next()), false);
  });
});
